"""``mosaic-coord``: the coord tasks as a program of their own (the program is in `_program`)."""

from __future__ import annotations

import gc
import sys


def main() -> None:
    # The collector's passes over the 100k objects that start-up makes free nothing: paused, then frozen.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from mosaic_invoke.program import make_program
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
        sys.exit(1)
