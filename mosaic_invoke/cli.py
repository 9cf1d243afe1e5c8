"""``mosaic-coord``: the coord tasks as a program of their own (the program is in `_program`)."""

from __future__ import annotations

import gc
import os
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
        # The reader went away (`mosaic-coord status | head`): end quietly, as other tools do;
        # point stdout at /dev/null so that the interpreter's last flush fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
