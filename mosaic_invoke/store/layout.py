"""state.json's bytes: coord's own layout found by line, any other JSON decoded and checked whole.

coord writes a first line with every top-level field but ``sessions`` (with ``sessions_crc32``,
the checksum of the record lines), then one compact session record per line, then ``]}``. A
file whose checksum and layout match is coord's own: its records are found by line, decoded
only when asked for, and rewritten without decoding the others. Any other file (another
tool's, or one edited by hand) is decoded and checked whole.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, cast

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import collector_paused, display_path, write_private
from mosaic_invoke.store.lines import RecordLines, dumps
from mosaic_invoke.store.records import decode_json
from mosaic_invoke.store.session import summarise
from mosaic_invoke.store.statecheck import check_decoded, summary_sound

HEAD_KEYS = ("version", "mission_id", "status", "loops", "summary", "summary_crc32", "sessions_crc32", "sessions")
OPEN = b',"sessions":['
CLOSE = b"]}\n"


class Parts(NamedTuple):
    """A state.json read: its top-level fields, its session records and their totals."""

    head: dict[str, Any]
    records: RecordLines
    summary: Mapping[str, Any]


def own_layout(raw: bytes) -> Parts | None:
    """The state in ``raw`` if it is exactly what coord writes (checksum included), else None."""
    newline = raw.find(b"\n")
    if newline < 0 or not raw.endswith(CLOSE) or not raw.startswith(OPEN, newline - len(OPEN)):
        return None
    start, end = newline + 1, len(raw) - len(CLOSE)
    if end > start:  # the last record line ends with a newline
        if raw[end - 1] != ord("\n"):
            return None
        end -= 1
    elif end < start:
        return None
    try:
        head = json.loads(raw[: newline - len(OPEN)] + b"}")
    except (ValueError, RecursionError):  # a number too long to convert too: read whole, it is named
        return None
    # The checksum over the record lines where they lie in the file: nothing is copied.
    if not isinstance(head, dict) or head.get("sessions_crc32") != zlib.crc32(memoryview(raw)[start:end]):
        return None
    summary, loops = head.get("summary"), head.get("loops", [])
    if not (summary_sound(summary) and isinstance(loops, list) and isinstance(head.get("status", ""), str)):
        return None  # a hand edit of the head line's types: read whole
    lines = RecordLines(raw, start=start, end=end, crc=head["sessions_crc32"])
    if head.get("summary_crc32") != zlib.crc32(dumps(summary)):
        # A summary edited by hand (a `next_session` that would reuse an id) is made anew from the records.
        with collector_paused():
            summary = summarise(lines.all())
    return Parts(head, lines, cast(dict[str, Any], summary))


def decode(raw: bytes, path: Path, *, keep_copy: bool) -> Parts:
    """The state in ``raw``, decoded and checked whole; a CoordError if it is corrupt.

    A command that would write the state (``keep_copy``) keeps a copy of a corrupt file beside
    it, so that a later hand edit cannot lose it."""
    problem = None
    try:
        with collector_paused():
            data = decode_json(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{display_path(path)}:{line}" if line else display_path(path)
        problem = f"{where}: state is not valid JSON ({getattr(exc, 'msg', exc)})"
    except RecursionError:
        problem = f"{display_path(path)}: state is not valid JSON (nested too deeply)"
    if problem is None:
        with collector_paused():
            checked = check_decoded(data)
        if not isinstance(checked, str):
            with collector_paused():
                summary = summarise(checked)
            return Parts(data, RecordLines(decoded=checked), summary)
        problem = f"{display_path(path)}: state is corrupt: {checked}"
    if keep_copy:  # once per corruption: the copy is named by its content
        copy = path.with_name(f"{path.name}.corrupt-{zlib.crc32(raw):08x}")
        try:
            if not (copy.is_file() and not copy.is_symlink() and copy.read_bytes() == raw):
                write_private(copy, raw)
            problem += f"; a copy is kept in {display_path(copy)}"
        except (OSError, CoordError) as exc:
            problem += f"; no copy could be kept ({getattr(exc, 'strerror', None) or exc})"
    raise CoordError(f"{problem}; fix it by hand or move it away (coord never overwrites it)")
