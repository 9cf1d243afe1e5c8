"""Atomic writes: a kill at any moment leaves the old content or the new, never a mix."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mosaic_invoke.errors import CoordError


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Each of its passes walks every live container; over 100k new tuples (or 10k decoded
    session records) that is most of the time spent, and none of these objects can form a cycle.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_atomic(path: Path, data: bytes | Sequence[bytes], *, durable: bool = True) -> None:
    """Write ``data`` (bytes, or pieces of it) to a temp file beside ``path``, fsync it, then
    rename it over ``path``.

    A symlink stays a link: the write goes to its target, atomically there. Not ``durable``
    (a cache that checks itself when read), no fsync: a crash may lose the new content."""
    try:
        _write_atomic(Path(os.path.realpath(path)) if os.path.islink(path) else path, data, durable)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot write: {exc.strerror or exc}"
        raise CoordError(msg) from None


def _write_atomic(path: Path, data: bytes | Sequence[bytes], durable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.writelines([data] if isinstance(data, bytes) else data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        if path.exists():
            # Keep the mode a human gave the file; mkstemp creates 0600.
            os.chmod(tmp_name, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON with a final newline, as the seed does."""
    write_atomic(path, json_bytes(payload, indent=2) + b"\n")


def json_bytes(payload: Any, *, indent: int | None = None) -> bytes:
    """``payload`` as JSON in UTF-8. A lone surrogate (read from a ``"\\ud800"`` escape) has no
    UTF-8: such a payload keeps its escapes."""
    try:
        return json.dumps(payload, indent=indent, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(payload, indent=indent).encode()


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it is below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def expand_user(value: str | os.PathLike[str]) -> Path:
    """``value`` with a leading ``~`` expanded; kept as written when there is no such user."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        return Path(value)


TEXT_LIMIT = 64 << 20
"""The largest text file coord reads (64 MiB): a mission's files are far smaller."""


def read_text(path: Path, what: str, *, where_set: str = "give the path of a file") -> str:
    """Read a UTF-8 text file, turning OS and decoding errors into a `CoordError`.

    Only a regular file of at most `TEXT_LIMIT` bytes: `/dev/zero` or a pipe would never end;
    ``where_set`` says how to name another one.
    """
    try:
        with path.open("rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                msg = f"{display_path(path)}: {what} is not a regular file; {where_set}"
                raise CoordError(msg)
            data = file.read(TEXT_LIMIT + 1)
        if len(data) > TEXT_LIMIT:
            msg = f"{display_path(path)}: {what} is larger than {TEXT_LIMIT >> 20} MiB; coord reads no more"
            raise CoordError(msg)
        return data.decode("utf-8")
    except FileNotFoundError:
        msg = f"{display_path(path)}: {what} not found"
        raise CoordError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{display_path(path)}: {what} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        raise CoordError(msg) from None
    except OSError as exc:
        msg = f"{display_path(path)}: cannot read {what}: {exc.strerror}"
        raise CoordError(msg) from None


@functools.cache
def _umask() -> int:
    # os.umask can only be read by setting it; do it once per process.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
