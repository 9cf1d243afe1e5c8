"""A state.json that another tool wrote, kept in coord's own layout once decoded.

coord reads its own layout by line; any other file is decoded whole, which at 10k sessions
costs more than the rest of a command. Once such a file (of 256 KiB or more) has been decoded
and checked, its state is written beside it in coord's layout, after a key line naming the
bytes it came from (their size and two checksums), the mission id it was read with, and the
checksum of the copy's head line (its records have their own). A later command that reads the
same bytes for the same mission reads this copy instead; anything else misses it, and a
damaged copy fails a checksum. coord's own next write of state.json removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import write_private

CACHE_FILE = "state.cache.json"
WORTH_KEEPING = 256 * 1024
"""Below this size (some 600 sessions) a file decodes in a few ms: no cache is kept."""


def cached(orchestrator: Path, raw: bytes, mission_id: str) -> bytes | None:
    """coord's layout of the state in ``raw`` (another tool's file), if a cache holds it."""
    if len(raw) < WORTH_KEEPING:
        return None
    try:
        data = (orchestrator / CACHE_FILE).read_bytes()
    except OSError:
        return None
    source = _source(raw, mission_id)
    key_end = data.find(b"}\n", len(source)) if data.startswith(source) else -1
    head_end = data.find(b"\n", key_end + 2) if key_end >= 0 else -1
    # The records are under their own checksum; the head line is under the key's.
    if head_end < 0 or data[len(source) : key_end] != b"%d" % zlib.crc32(data[key_end + 2 : head_end + 1]):
        return None
    return data[key_end + 2 :]


def store(orchestrator: Path, raw: bytes, mission_id: str, layout: Callable[[], Sequence[bytes]]) -> None:
    """Keep ``layout()`` (coord's layout of the state decoded from ``raw``, in pieces, the first
    its head line) for the next read.

    Best effort: a folder that cannot be written only means the next read decodes again."""
    if len(raw) < WORTH_KEEPING:
        return
    path = orchestrator / CACHE_FILE
    chunks = layout()
    key = _source(raw, mission_id) + b"%d}\n" % zlib.crc32(chunks[0])
    with contextlib.suppress(CoordError):
        # No fsync: a copy a crash cut short fails its checksums and is made again.
        write_private(path, [key, *chunks], durable=False)


def forget(orchestrator: Path) -> None:
    """Remove the cache: state.json is now in coord's layout."""
    with contextlib.suppress(OSError):
        os.unlink(orchestrator / CACHE_FILE)


def _source(raw: bytes, mission_id: str) -> bytes:
    # The bytes it came from, by two checksums in C (apart, they tell any edit a person or a
    # tool makes), and the mission id a file without one was read with.
    return b'{"source_size":%d,"source_crc32":%d,"source_adler32":%d,"mission_id":%s,"head_crc32":' % (
        len(raw),
        zlib.crc32(raw),
        zlib.adler32(raw),
        json.dumps(mission_id).encode(),
    )
