"""The report page as a loop keeps it: redrawn after each session by a child process, at most
once in a while, and once more by the loop itself as it stops."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mosaic_invoke.errors import CoordError

REPORT_EVERY = 30.0
"""Seconds from the start of one redraw of the report page between sessions to the next, at least."""
_REPORT = (  # at the lowest priority: on a busy machine the loop's own work comes first
    "import os, sys, time; os.nice(19); time.sleep(float(sys.argv[3])); sys.path.insert(0, sys.argv[1]); "
    "from pathlib import Path; from mosaic_invoke.views.report.page import write_report; "
    "write_report(Path(sys.argv[2]))"
)


class Redraws:
    """The report page of the mission at ``mission_file``, rewritten after each session.

    Between sessions a child process writes it, so that a long history does not slow the loop;
    redraws start at least `REPORT_EVERY` apart (sessions in quick succession would have it
    redrawn over and over, at 10k sessions half a second of a core each). A session that ends
    sooner is drawn by a child that waits for its time, then reads the state as it is: never
    left out until the loop ends. At the end the loop writes it itself (`last`).
    """

    def __init__(self, mission_file: Path, report: Callable[[str], None]) -> None:
        self.mission_file = mission_file
        self.report = report
        self.children: list[subprocess.Popen[bytes]] = []
        """The children that may still run, the newest last."""
        self.starts = 0.0
        """When the newest child reads the state (it waits until then)."""

    def after_session(self) -> None:
        now = time.monotonic()
        if self._waiting(now):
            return  # a redraw waits for its time: it reads the state then, this session's end with it
        starts = max(now, self.starts + REPORT_EVERY) if self.children else now
        self.starts = starts
        self.children = [child for child in self.children if child.poll() is None]
        here = str(Path(__file__).resolve().parents[2])
        self.children.append(
            subprocess.Popen(
                [sys.executable, "-I", "-c", _REPORT, here, str(self.mission_file), f"{starts - now:.3f}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def last(self) -> None:
        """The page as the loop stops, written here once every child is done."""
        if self._waiting(time.monotonic()):  # the newest has not read the state yet: not needed
            self.children[-1].kill()
        for child in self.children:
            child.wait()
        self.children = []
        from mosaic_invoke.views.report.page import write_report  # the page's modules, at the loop's end only

        try:
            write_report(self.mission_file)
        except CoordError as error:
            self.report(f"warning: the report page was not written: {error}")

    def _waiting(self, now: float) -> bool:
        return bool(self.children) and now < self.starts and self.children[-1].poll() is None
