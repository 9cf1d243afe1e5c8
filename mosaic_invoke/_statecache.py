"""A state.json that another tool wrote, kept in coord's own layout once decoded.

coord reads its own layout by line; any other file is decoded whole, which at 10k sessions
costs more than the rest of a command. Once such a file (of 256 KiB or more) has been decoded
and checked, its state is written beside it in coord's layout, after a first line naming the
bytes it came from (their size and two checksums). A later command that reads the same bytes
reads this copy instead; any other bytes miss it, and a damaged copy fails its own checksum.
coord's own next write of state.json makes the copy useless and removes it.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

from ._exceptions import CoordError
from ._files import write_atomic

CACHE_FILE = "state.cache.json"
WORTH_KEEPING = 256 * 1024
"""Below this size (some 600 sessions) a file decodes in a few ms: no cache is kept."""


def cached(orchestrator: Path, raw: bytes) -> bytes | None:
    """coord's layout of the state in ``raw`` (another tool's file), if a cache holds it."""
    if len(raw) < WORTH_KEEPING:
        return None
    try:
        data = (orchestrator / CACHE_FILE).read_bytes()
    except OSError:
        return None
    key = _key(raw)
    return data[len(key) :] if data.startswith(key) else None


def store(orchestrator: Path, raw: bytes, chunks: Sequence[bytes]) -> None:
    """Keep ``chunks`` (coord's layout of the state decoded from ``raw``) for the next read.

    Best effort: a folder that cannot be written only means the next read decodes again."""
    if len(raw) < WORTH_KEEPING:
        return
    with contextlib.suppress(CoordError):
        # No fsync: a copy a crash cut short fails its checksum and is made again.
        write_atomic(orchestrator / CACHE_FILE, [_key(raw), *chunks], durable=False)


def forget(orchestrator: Path) -> None:
    """Remove the cache: state.json is now in coord's layout."""
    with contextlib.suppress(OSError):
        os.unlink(orchestrator / CACHE_FILE)


def _key(raw: bytes) -> bytes:
    # Two checksums over all the bytes, in C: together they tell apart any edit a person or a
    # tool would make; the size alone catches most.
    return b'{"source_size":%d,"source_crc32":%d,"source_adler32":%d}\n' % (
        len(raw),
        zlib.crc32(raw),
        zlib.adler32(raw),
    )
