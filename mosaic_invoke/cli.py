"""``mosaic-coord``: the coord tasks as a program of their own (the program is in `_program`)."""

from __future__ import annotations

import gc
import sys


def main() -> None:
    # Starting imports Invoke and coord's commands: some 100k objects that live as long as
    # the process. The cyclic collector's passes over them while they are made find nothing
    # to free and cost a short command about a tenth of its time: paused until they exist,
    # then frozen out of every later pass (a loop runs for days).
    gc.disable()
    try:
        from ._program import make_program
    finally:
        gc.freeze()
        gc.enable()
    try:
        try:
            make_program().run()
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure is past catching
    except BrokenPipeError:
        # The reader went away while Invoke or the last flush wrote (a command's own writes
        # end it in `CoordTask`): end quietly, as other tools do.
        from ._console import discard_stdout

        discard_stdout()
        sys.exit(1)
