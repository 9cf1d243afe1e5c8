"""``mosaic-coord``: the coord tasks as a program of their own (the program is in `_program`)."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys

_exit_code: int | None = None
"""The code the program ended with, once it ended by returning or by `sys.exit`; None while it
runs, and after an error that Python itself reports."""


def main() -> None:
    global _exit_code  # the one fact `_end_without_teardown` needs at exit
    # Registered first, so it runs last: after every other exit handler (logging's flush).
    atexit.register(_end_without_teardown)
    # The collector's passes over the 100k objects that start-up makes free nothing: paused, then frozen.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from mosaic_invoke.program import make_program  # here: imported with the collector paused
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    try:
        try:
            make_program().run()
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure is past catching
    except BrokenPipeError:
        # The reader went away while Invoke or the last flush wrote (a command's own writes
        # end it in `CoordTask`): end quietly, as other tools do.
        from mosaic_invoke.terminal import discard_stdout

        discard_stdout()
        _exit_code = 1
        sys.exit(1)
    except SystemExit as exc:
        _exit_code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        raise
    _exit_code = 0


def _end_without_teardown() -> None:
    """End the process without freeing its heap one object at a time.

    A session's command holds a parsed tasks file and state of tens of thousands of objects;
    Python's teardown frees them one by one and runs a last collection: 15-20 ms at 10k tasks
    and 10k sessions, a tenth of the whole command (`benchmarks/run.py`, the whole-session row).
    By now every file coord wrote is closed (each write is a `with` block, fsynced where it
    must be), child processes are on their own, and every other exit handler has run; only the
    standard streams may hold buffered output. An end Python reports itself (a traceback,
    Ctrl-C at the top) keeps the usual teardown.
    """
    if _exit_code is None:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone, or a stream closed
            stream.flush()
    os._exit(_exit_code)
