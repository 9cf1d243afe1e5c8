"""session.lock (the running session) and the inter-process lock that guards coord's files."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import display_path, open_private, private_dir, write_json_atomic
from mosaic_invoke.store.liveness import Liveness, judge
from mosaic_invoke.store.records import present_fields, read_record

SESSION_LOCK_FILE = "session.lock"
# A file nothing reads or writes: closing any handle to a POSIX record lock drops it.
STATE_LOCK_FILE = "coord.lock"


@dataclass(frozen=True, kw_only=True)
class SessionLock:
    """The running session, as session.lock records it."""

    session_id: str
    runtime: str
    pid: int
    started_at: str
    project_path: str
    milestone_id: str | None = None
    task_id: str | None = None
    host: str | None = None
    pid_started_at: int | None = None
    owner_pid: int | None = None
    """The process that records the session's end: coord in the foreground, else the supervisor."""
    owner_started_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return present_fields(self)

    def judge(self) -> Liveness:
        """A session lives while its agent runs, and until its owner has recorded its end."""
        return judge(
            self.host,
            self.pid,
            self.pid_started_at,
            owner_pid=self.owner_pid,
            owner_started_at=self.owner_started_at,
        )


def lock_path(orchestrator: Path) -> Path:
    return orchestrator / SESSION_LOCK_FILE


def read_session_lock(orchestrator: Path) -> tuple[SessionLock | None, str | None]:
    """The session lock, or None; a corrupt lock is treated as absent, with a warning."""
    return read_record(lock_path(orchestrator), SessionLock, "lock")


def write_session_lock(orchestrator: Path, lock: SessionLock) -> None:
    write_json_atomic(lock_path(orchestrator), lock.to_dict())


def remove_session_lock(orchestrator: Path) -> None:
    path = lock_path(orchestrator)
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot remove the session lock: {exc.strerror}"
        raise CoordError(msg) from None


@contextmanager
def state_lock(orchestrator: Path) -> Iterator[None]:
    """Hold the inter-process lock that guards state, session lock and tasks file."""
    try:
        private_dir(orchestrator)
    except OSError as exc:
        msg = f"{display_path(orchestrator)}: cannot create the orchestrator folder: {exc.strerror}"
        raise CoordError(msg) from None
    import fasteners  # only commands that write need it

    path = orchestrator / STATE_LOCK_FILE
    if path.is_symlink() or not path.exists():  # fasteners opens it to append, following a link
        with contextlib.suppress(OSError):  # fasteners says why it cannot
            open_private(path).close()
    lock = fasteners.InterProcessLock(str(path))
    try:
        lock.acquire()
    except (OSError, threading.ThreadError) as exc:
        # fasteners wraps the OS error in a message showing the path as bytes: say it plainly.
        cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "the file system refused it"
        msg = (
            f"{display_path(orchestrator / STATE_LOCK_FILE)}: cannot take the state lock ({reason}); "
            "check that the folder is writable and that this is a plain file"
        )
        raise CoordError(msg) from None
    try:
        yield
    finally:
        lock.release()
