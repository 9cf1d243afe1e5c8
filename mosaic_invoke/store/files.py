"""Writing files: atomically (a kill at any moment leaves the old content or the new, never a
mix), coord's own ones private to the user and never through a link planted in their place."""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.liveness import is_alive, process_start_time


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
    rename it over ``path``: for the user's files (the tasks file, what `init` makes).

    A symlink stays a link: the write goes to its target, atomically there. Not ``durable``
    (a cache that checks itself when read), no fsync: a crash may lose the new content."""
    try:
        _write_atomic(Path(os.path.realpath(path)) if os.path.islink(path) else path, data, durable, private=False)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot write: {exc.strerror or exc}"
        raise CoordError(msg) from None


def write_private(path: Path, data: bytes | Sequence[bytes], *, durable: bool = True) -> None:
    """`write_atomic` for coord's own files (state, locks, prompts, the capsule, the report):
    mode 0600 in a folder coord makes 0700; a link in their place is replaced, never followed."""
    try:
        _write_atomic(path, data, durable, private=True)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot write: {exc.strerror or exc}"
        raise CoordError(msg) from None


def _write_atomic(path: Path, data: bytes | Sequence[bytes], durable: bool, *, private: bool) -> None:
    if private:
        private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.writelines([data] if isinstance(data, bytes) else data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        if private:
            pass  # mkstemp made it 0600; the rename replaces a link, never writes through it
        elif path.exists():
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
        fsync_dir(path.parent)


def open_private(path: Path, *, append: bool = True) -> BinaryIO:
    """Open coord's own file ``path`` (a log) to append to, or to write anew: created 0600 in a
    folder coord makes 0700. A link, a pipe or anything but a file in its place is replaced,
    never followed nor waited on."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_APPEND if append else os.O_TRUNC
    for attempt in (1, 2):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:  # ELOOP: a link; ENXIO: a pipe no one reads
            if attempt == 2 or exc.errno not in (errno.ELOOP, errno.ENXIO) or not _unlink(path):
                raise
            continue
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            break
        os.close(fd)
        if attempt == 2 or not _unlink(path):
            raise IsADirectoryError(errno.EISDIR, "not a file", str(path))
    os.set_blocking(fd, True)
    if info.st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if append else "wb")


def private_dir(folder: Path) -> None:
    """Make ``folder`` (and the folders above it) if missing, itself 0700. A folder that is a
    link is kept: linking the orchestrator folder elsewhere is the user's choice."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=0o700)
    except FileNotFoundError:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
    except FileExistsError:
        if not folder.is_dir():  # another coord made it meanwhile: fine; anything else is in its place
            raise


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


# coord's temp files: `.<name>.<pid>-<start time>.<random>.tmp`, the writer named in them; and
# those of versions before (no writer named), stale once an hour old.
_TEMP = re.compile(r"\..+\.(\d+)-(\d+)\.[a-z0-9_]{8}\.tmp")
_OLD_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_OLD_TEMP_AGE = 3600.0


def temp_prefix(path: Path) -> str:
    """The start of the name of a temp file that becomes ``path``: it names its writer."""
    return f".{path.name}.{_writer()}."


def _writer() -> str:
    return _writer_named(os.getpid())


@functools.cache
def _writer_named(pid: int) -> str:
    return f"{pid}-{process_start_time(pid) or 0}"


def remove_stale_temps(folder: Path) -> None:
    """Remove the temp files in ``folder`` that coord's writers left when killed: only coord's
    names, and only those whose writer is no longer running (never a live writer's)."""
    try:
        entries = [entry for entry in os.scandir(folder) if entry.name.startswith(".")]
    except OSError:
        return
    for entry in entries:
        found = _TEMP.fullmatch(entry.name)
        if found is None and _OLD_TEMP.fullmatch(entry.name) is None:
            continue
        try:
            if found is not None:
                pid, started = int(found.group(1)), int(found.group(2))
                if pid == os.getpid() or is_alive(pid, started or None):
                    continue
            elif time.time() - entry.stat(follow_symlinks=False).st_mtime < _OLD_TEMP_AGE:
                continue
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except (OSError, ValueError):
            continue


def write_json_atomic(path: Path, payload: Any, *, durable: bool = True) -> None:
    """Write ``payload`` as indented JSON with a final newline, as the seed does: one of coord's
    own files (`write_private`)."""
    write_private(path, json_bytes(payload, indent=2) + b"\n", durable=durable)


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
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a pipe: no wait for a writer
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            if not stat.S_ISREG(mode):
                msg = f"{display_path(path)}: {what} is not a regular file; {where_set}"
                raise CoordError(msg)
            os.set_blocking(fd, True)
            data = file.read(TEXT_LIMIT + 1)
        if len(data) > TEXT_LIMIT:
            size = f"larger than {TEXT_LIMIT >> 20} MiB, more than coord reads"
            msg = f"{display_path(path)}: {what} is {size}; make it smaller"
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


def fsync_dir(directory: Path) -> None:
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
