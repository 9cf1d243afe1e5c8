"""state.journal: the changes to the state since state.json was last written whole.

A session's start and end each change one record of a state that, at 10k sessions, is a 4 MB
file: rewriting it for each change (temp file, fsync, rename) was most of what coord spent on
a session. A change is appended here instead, as one line, and fsynced. Readers replay the
journal over state.json; once it would grow past a bound, or whenever state.json is written
whole anyway, its changes are folded into state.json and it is removed (in that order). A change
of a record that state.json itself holds (a session that started before the last fold and ends
after it) is folded at once: replayed, it would copy the whole file in every reader.

The first line names the state.json the journal extends, by the checksum of that file's head
line (which holds the checksum of its records) and its size: a journal that a fold left behind
(killed between writing state.json and removing it) names another file and is ignored. Each
further line is one change, ``{"crc32":<10 places>,"entry":{...}}``, the checksum over the entry's
bytes: a last line that a kill cut short or damaged fails it and is ignored, and the next
write folds the journal. A damaged line with a sound one after it was not left by a kill: it
is an error, and the journal is never overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import display_path, fsync_dir, temp_prefix
from mosaic_invoke.store.lines import dumps
from mosaic_invoke.store.statecheck import identities_valid, summary_sound

JOURNAL_FILE = "state.journal"
JOURNAL_BOUND = 64 * 1024
"""A state.json smaller than this is rewritten whole (that costs about what an append does);
a journal that an entry would take past it is folded into state.json instead."""

Identity = tuple[int, int, int, int]
"""What tells one version of a file from another: inode, modification and change times, size."""

_PREFIX = b'{"crc32":'
_ENTRY = b',"entry":'
_DIGITS = 10
_START = len(_PREFIX) + _DIGITS + len(_ENTRY)


@dataclass(frozen=True)
class Journal:
    """A journal as read: the state.json it extends and its sound entries, oldest first."""

    base: tuple[int, int]
    """The checksum of the head line of the state.json it extends, and that file's size."""
    entries: tuple[dict[str, Any], ...]
    size: int
    identity: Identity
    torn: bool
    """Its last line was cut short or damaged (a kill while it was appended)."""


def identity(info: os.stat_result) -> Identity:
    # Every change of a file moves its change time; a replaced file has a new inode.
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size


def base_of(raw: bytes) -> tuple[int, int]:
    """What a journal names a state.json by: the checksum of its first line, and its size."""
    newline = raw.find(b"\n")
    return zlib.crc32(memoryview(raw)[: newline if newline >= 0 else len(raw)]), len(raw)


def read_journal(path: Path) -> Journal | None:
    """The journal at ``path``; None when there is none, or its first line names no state.json
    (or a link or anything but a file is in its place: never followed, replaced by the next write)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            return None
        msg = f"{display_path(path)}: cannot read the state journal: {exc.strerror}"
        raise CoordError(msg) from None
    try:
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            raw = file.read()
    except OSError as exc:
        msg = f"{display_path(path)}: cannot read the state journal: {exc.strerror}"
        raise CoordError(msg) from None
    lines = raw.split(b"\n")
    base = _header(lines[0]) if len(lines) > 1 else None
    if base is None:
        return None
    entries = []
    torn = lines[-1] != b""  # the last line has no end: cut short
    complete = lines[1:-1]
    for index, line in enumerate(complete):
        entry = _entry(line)
        if entry is None:
            if any(_entry(later) is not None for later in complete[index + 1 :]):
                msg = (
                    f"{display_path(path)}:{index + 2}: the state journal is damaged at this line (sound lines "
                    "follow it); delete the line to go on without the change it held (coord never overwrites it)"
                )
                raise CoordError(msg)
            torn = True
            break
        entries.append(entry)
    return Journal(base=base, entries=tuple(entries), size=len(raw), identity=identity(info), torn=torn)


def frame(entry: dict[str, Any]) -> bytes:
    """``entry`` as one journal line, under its checksum."""
    payload = dumps(entry)
    # The checksum right-aligned in a fixed width (JSON allows no leading zeros): the entry is found by place.
    return b"%s%10d%s%s}\n" % (_PREFIX, zlib.crc32(payload), _ENTRY, payload)


def append(path: Path, line: bytes) -> Identity:
    """Append ``line`` to the journal at ``path`` and fsync it; its new identity."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            _write_all(fd, line)
            os.fsync(fd)
            return identity(os.fstat(fd))
        finally:
            os.close(fd)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot write: {exc.strerror or exc}"
        raise CoordError(msg) from None


def start(path: Path, base: tuple[int, int], line: bytes) -> Identity:
    """A new journal at ``path`` over the state.json named by ``base``, holding ``line``; its identity.

    Made whole beside it (private, as coord's other files) and renamed into place: it replaces a
    journal a fold left behind, or a link put in its place, and no reader ever sees it without
    its first line."""
    header = b'{"journal":1,"state_crc32":%d,"state_size":%d}\n' % base
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
        try:
            try:
                _write_all(fd, header + line)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp_name, path)
            info = os.lstat(path)  # a rename moves the change time
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
    except OSError as exc:
        msg = f"{display_path(path)}: cannot write: {exc.strerror or exc}"
        raise CoordError(msg) from None
    fsync_dir(path.parent)
    return identity(info)


def remove(path: Path) -> None:
    """Remove a folded journal. One that cannot be removed names a state.json that is no more."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _header(line: bytes) -> tuple[int, int] | None:
    try:
        head = json.loads(line)
    except (ValueError, RecursionError):  # a number too long to convert too
        return None
    if not isinstance(head, dict) or head.get("journal") != 1:
        return None
    crc, size = head.get("state_crc32"), head.get("state_size")
    return (crc, size) if type(crc) is int and type(size) is int else None


def _entry(line: bytes) -> dict[str, Any] | None:
    """The entry on ``line`` if its checksum and shape are sound."""
    digits = line[len(_PREFIX) : len(_PREFIX) + _DIGITS]
    framed = line.startswith(_PREFIX) and line.startswith(_ENTRY, len(_PREFIX) + _DIGITS)
    if not (framed and digits.lstrip(b" ").isdigit()):
        return None
    payload = memoryview(line)[_START:-1]
    if not line.endswith(b"}") or zlib.crc32(payload) != int(digits):
        return None
    try:
        entry = json.loads(bytes(payload))
    except (ValueError, RecursionError):  # a number too long to convert too
        return None
    return entry if _sound(entry) else None


def _sound(entry: Any) -> bool:
    """Whether ``entry`` has what a replay needs: the sessions it puts (their identities sound),
    the ids of those that are new, the summary after it, and the status if it changed."""
    if not isinstance(entry, dict):
        return False
    sessions, new = entry.get("sessions"), entry.get("new")
    return (
        isinstance(sessions, list)
        and identities_valid(sessions)
        and isinstance(new, list)
        and all(isinstance(item, str) for item in new)
        and summary_sound(entry.get("summary"))
        and isinstance(entry.get("status", ""), str)
    )
