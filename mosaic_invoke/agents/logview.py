"""A session's saved log, shown as the live view showed it (or raw), optionally while it grows."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mosaic_invoke.agents.formats import reader_for
from mosaic_invoke.agents.lines import Lines
from mosaic_invoke.agents.reader import Reader
from mosaic_invoke.errors import CoordError

POLL_SECONDS = 0.2
_CHUNK = 1 << 16


def show_log(
    path: Path,
    output: str,
    *,
    raw: bool = False,
    follow: bool = False,
    still_running: Callable[[], bool] = lambda: False,
    write: Callable[[str], None] = print,
    poll: float = POLL_SECONDS,
) -> Reader:
    """Write the log at ``path`` in the compact view of its ``output`` format (as it is, with ``raw``).

    With ``follow``, keep reading as the log grows while ``still_running()`` says so, then
    read what was written last and stop. Returns the reader, which has then seen every line.
    """
    reader = reader_for(output)
    for line in _lines(path, follow=follow, still_running=still_running, poll=poll):
        if raw:
            reader.feed(line)
            write(line.rstrip("\r\n"))
        else:
            for shown in reader.feed(line):
                write(shown)
    return reader


def read_log(path: Path, output: str) -> Reader:
    """A reader fed the whole saved log: its telemetry and verdict as if it had read live."""
    reader = reader_for(output)
    for line in _lines(path, follow=False, still_running=lambda: False, poll=0):
        reader.feed(line)
    return reader


def reported_in_log(path: str | None, output: str | None) -> dict[str, Any]:
    """The telemetry in a saved log (the agent's session id, tokens, cost); {} when there is none
    to read: no log, a log gone, or a format this version does not know."""
    if path is None or output is None:
        return {}
    try:
        return read_log(Path(path), output).telemetry()
    except (CoordError, ValueError):
        return {}


def _lines(path: Path, *, follow: bool, still_running: Callable[[], bool], poll: float) -> Iterator[str]:
    """The log's lines, each whole (a line still being written waits for its end) and bounded
    (`Lines`: a line without end costs no more than its limit)."""
    try:
        log: BinaryIO = path.open("rb")
    except OSError as error:
        msg = f"{path}: cannot read the session's log: {error.strerror or error}"
        raise CoordError(msg) from None
    lines = Lines()
    with log:
        while True:
            chunk = log.read(_CHUNK)
            if chunk:
                yield from map(_decode, lines.feed(chunk))
                continue
            if follow and still_running():
                time.sleep(poll)
                continue
            for rest in iter(functools.partial(log.read, _CHUNK), b""):  # what arrived before the end was seen
                yield from map(_decode, lines.feed(rest))
            last = lines.end()
            if last is not None:
                yield _decode(last)
            return


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace")
