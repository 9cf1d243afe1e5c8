"""Agent processes: starting, waiting, signals, and whether a pid still lives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, cast

from ._exceptions import CoordError


def hostname() -> str:
    return socket.gethostname()


def start(argv: Sequence[str], cwd: Path, env: Mapping[str, str], **popen: object) -> subprocess.Popen[bytes]:
    """Start the agent (an argument list, never a shell), or say why it could not start."""
    try:
        process: subprocess.Popen[bytes] = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), **popen)  # type: ignore[call-overload]
        return process
    except FileNotFoundError:
        where = "" if os.sep in argv[0] else " on PATH"
        msg = (
            f"cannot start the agent: command `{argv[0]}` not found{where}; install it, "
            "or choose another with --runtime or --command"
        )
    except PermissionError:
        msg = f"cannot start the agent: `{argv[0]}` is not executable; check its permissions"
    except OSError as exc:
        msg = f"cannot start the agent `{argv[0]}`: {exc.strerror}"
    raise CoordError(msg)


def start_detached(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    orchestrator: Path,
    mission_id: str,
    session_id: str,
) -> tuple[int, int | None, int]:
    """Start the agent under a supervisor in a session of its own.

    Returns the agent's pid and start time, and the supervisor's pid.

    The supervisor (``python -m mosaic_invoke._supervisor``) starts the agent with its output
    in ``log_path``, reports its pid on a pipe, waits for it and records its end.
    """
    spec = {
        "argv": list(argv),
        "cwd": str(cwd),
        "env": dict(env),
        "log": str(log_path),
        "orchestrator": str(orchestrator),
        "mission_id": mission_id,
        "session_id": session_id,
    }
    package_parent = str(Path(__file__).resolve().parent.parent)
    supervisor_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
    }
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "mosaic_invoke._supervisor"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=cwd,
                env=supervisor_env,
                start_new_session=True,
            )
    except OSError as exc:
        msg = f"cannot start the session supervisor: {exc.strerror}"
        raise CoordError(msg) from None
    with cast(IO[bytes], supervisor.stdin) as pipe:
        pipe.write(json.dumps(spec).encode())
    with cast(IO[bytes], supervisor.stdout) as pipe:
        reply = pipe.readline()
    try:
        started = json.loads(reply)
    except json.JSONDecodeError:
        supervisor.wait()
        msg = f"the session supervisor failed to start the agent; see {log_path}"
        raise CoordError(msg) from None
    if "error" in started:
        supervisor.wait()
        raise CoordError(started["error"])
    return int(started["pid"]), started.get("pid_started_at"), supervisor.pid


_FORWARDED = (signal.SIGTERM, signal.SIGHUP)
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def wait(process: subprocess.Popen[bytes]) -> tuple[int, bool]:
    """Wait for the agent, passing signals on; returns its exit code and whether it was interrupted.

    Ctrl-C reaches the agent from the terminal already (it is in our process group), so
    SIGINT is only noted here; SIGTERM and SIGHUP are forwarded. A signal death gives the
    shell's code, 128 + the signal number.
    """
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if signum in _FORWARDED and process.poll() is None:
            process.send_signal(signum)

    handled = (signal.SIGINT, *_FORWARDED)
    previous = {signum: signal.signal(signum, on_signal) for signum in handled}
    try:
        returncode = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if returncode < 0:
        return 128 - returncode, -returncode in _INTERRUPTS
    return returncode, returncode != 0 and any(s in _INTERRUPTS for s in received)


def ended_reason(exit_code: int, interrupted: bool) -> str:
    if interrupted:
        return "interrupted"
    return "completed" if exit_code == 0 else "failed"


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
    if pid <= 0:
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
