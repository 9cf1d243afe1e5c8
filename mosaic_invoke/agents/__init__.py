"""Reading an agent's output: one reader per output format, limits in its errors, saved logs.

A reader takes the agent's standard output line by line (``feed``) and returns the compact
human view of each line; meanwhile it learns the agent's session id, the telemetry the
session record keeps, and at the end whether the session hit a usage limit, a hard wall or
a transient error (``verdict``).
"""

from __future__ import annotations

from mosaic_invoke.agents.formats import log_suffix, reader_for
from mosaic_invoke.agents.limits import Verdict
from mosaic_invoke.agents.logview import read_log, reported_in_log, show_log
from mosaic_invoke.agents.reader import Reader

__all__ = ["Reader", "Verdict", "log_suffix", "read_log", "reader_for", "reported_in_log", "show_log"]
