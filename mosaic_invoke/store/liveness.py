"""Whether a process that a lock or a record names still lives: the one judge for all of them."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

Liveness = Literal["live", "stale", "foreign"]
"""``foreign``: another host's process, which cannot be checked from here."""


_PID_LIMIT = 1 << 31
"""No pid is this large; a hand edit may write one (os.kill would overflow)."""


def hostname() -> str:
    return socket.gethostname()


def judge(
    host: str | None,
    pid: int,
    started_at: int | None,
    *,
    owner_pid: int | None = None,
    owner_started_at: int | None = None,
) -> Liveness:
    """``live`` while the process (or its owner, which records its end) runs on this host."""
    if host is not None and host != hostname():
        return "foreign"
    if is_alive(pid, started_at):
        return "live"
    owner_alive = owner_pid is not None and is_alive(owner_pid, owner_started_at)
    return "live" if owner_alive else "stale"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` from the state on (the name may hold spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode("ascii", "replace").split()


def _start_time(fields: list[str] | None) -> int | None:
    # Counted from the state (field 3 of stat), starttime is field 22.
    return int(fields[19]) if fields and len(fields) > 19 else None


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None."""
    return _start_time(_stat_fields(pid))


def is_alive(pid: int, started_at: int | None) -> bool:
    """A pid lives if it exists, is no zombie, and (where known) started when the lock says."""
    if not 0 < pid < _PID_LIMIT:
        return False
    fields = _stat_fields(pid)
    if fields is not None:
        if fields[0] in ("Z", "X", "x"):
            return False
        start = _start_time(fields)
        return started_at is None or start is None or start == started_at
    if Path("/proc/self/stat").exists():
        return False
    try:  # No /proc here: only the pid can be checked.
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
