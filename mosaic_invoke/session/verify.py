"""After a session: what became of its task, what git says, the gates, and the verdict."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session import git
from mosaic_invoke.session.process import exit_status
from mosaic_invoke.store.clock import format_span
from mosaic_invoke.tasks.tasksfile import TasksFile, TaskStatus
from mosaic_invoke.tasks.tasksfile import load as load_tasks


@dataclass(frozen=True)
class Start:
    """What the harness compares a session's end with: the moment it began."""

    task_id: str
    done_before: frozenset[str]
    head_before: str | None
    tree_before: str | None


@dataclass(frozen=True)
class Findings:
    """What verification adds to the session record, and whether the task is reopened."""

    fields: Mapping[str, Any]
    reopen: bool = False
    signalled: bool = False
    """SIGINT, SIGTERM or SIGHUP reached coord while the gates ran (a loop then stops)."""


@dataclass(frozen=True)
class GateRun:
    command: str
    exit_code: int | None
    """None when the gates ran past their timeout, or were stopped by a signal to coord."""
    duration_seconds: int
    log_path: str
    stopped_by: str | None = None
    """The signal (``SIGINT``...) that reached coord while the gates ran; coord stopped them."""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "passed": self.passed,
            "duration_seconds": self.duration_seconds,
            "log_path": self.log_path,
        }

    def failure(self, timeout: float) -> str:
        if self.stopped_by is not None:
            return f"`{self.command}` was interrupted ({self.stopped_by})"
        if self.exit_code is None:
            return f"`{self.command}` timed out after {format_span(timeout)}"
        return f"`{self.command}` failed (exit {self.exit_code})"


Verifier = Callable[[Mission, Start, str, Path, Mapping[str, str], Callable[[str], None]], Findings]
"""What judges a session once its agent ended: `verify`, or a lane's verify-and-land."""


def bookkeeping(mission: Mission) -> tuple[Path, ...]:
    """coord's own files, which no session's "change" counts."""
    return (mission.orchestrator_path, mission.tasks_path)


def start(mission: Mission, tasks: TasksFile, task_id: str) -> Start:
    done = frozenset(tasks.ids(TaskStatus.DONE))
    return Start(
        task_id=task_id,
        done_before=done,
        head_before=git.head(mission.root),
        tree_before=git.work_tree_state(mission.root, bookkeeping(mission)),
    )


def verify(
    mission: Mission,
    begun: Start,
    ended_reason: str,
    gate_log: Path,
    env: Mapping[str, str],
    report: Callable[[str], None],
) -> Findings:
    """Re-read the tasks file, ask git, run the gates when the task is done: the verdict."""
    changes = git.changes(mission.root, begun.head_before, begun.tree_before, bookkeeping(mission))
    fields: dict[str, Any] = {"git": None if changes is None else {k: v for k, v in changes.items() if k != "changed"}}
    try:
        tasks = load_tasks(mission.tasks_path)
    except CoordError as error:
        report(f"warning: cannot verify the session: {error}")
        return Findings({**fields, "verdict": "unfinished"})
    status = tasks.status_of(begun.task_id)
    done_now = tasks.ids(TaskStatus.DONE)
    fields["task_status_after"] = status.value if status else None
    fields["tasks_done"] = sorted(done_now - begun.done_before)
    if status is not TaskStatus.DONE:
        touched = status is not TaskStatus.IN_PROGRESS
        fields["verdict"] = "unfinished" if ended_reason == "completed" or touched else "none"
        return Findings(fields)
    checks = mission.verify
    problem = None
    signalled = False
    if checks is not None:
        gates = run_gates(mission, checks.command, checks.timeout, gate_log, env)
        fields["verification"] = gates.to_dict()
        signalled = gates.stopped_by is not None
        if not gates.passed:
            problem = gates.failure(checks.timeout)
        elif checks.require_change and changes is not None and not changes["changed"]:
            problem = "no commit was made and nothing in the work tree changed"
    if problem is None:
        return Findings({**fields, "verdict": "accepted"})
    return Findings({**fields, "verdict": "rejected", "rejected_because": problem}, reopen=True, signalled=signalled)


def run_gates(
    mission: Mission,
    command: str,
    timeout: float,
    log_path: Path,
    env: Mapping[str, str],
    stop_now: Callable[[], bool] | None = None,
    *,
    cwd: Path | None = None,
) -> GateRun:
    """Run the gates by ``/bin/sh -c`` in the project root (or ``cwd``: a lane's), output to
    ``log_path``; a SIGUSR1 while ``stop_now()`` says so (`coord.stop --now`) stops them too."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with log_path.open("wb") as log:
        log.write(f"$ {command}\n".encode())
        log.flush()
        process: subprocess.Popen[bytes] | None = None
        stopped_by = None
        try:
            with _interruptible(stop_now):  # from before the start: a signal in between must not be lost
                process = subprocess.Popen(
                    ["/bin/sh", "-c", command],
                    cwd=cwd or mission.root,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                code: int | None = exit_status(process.wait(timeout=timeout))
        except OSError as exc:
            log.write(f"cannot run: {exc.strerror}\n".encode())
            return GateRun(command, 127, 0, str(log_path))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            code = None
            log.write(f"\ncoord: killed after {format_span(timeout)}\n".encode())
        except _Interrupted as signalled:
            _kill_group(process)
            code, stopped_by = None, str(signalled)
            log.write(f"\ncoord: stopped by {stopped_by}\n".encode())
    return GateRun(command, code, int(time.monotonic() - began), str(log_path), stopped_by)


STOP_NOW = "stop --now"
"""What stopped gates that `coord.stop --now` cut short."""


class _Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP reached coord while the gates ran (or a stop now was asked for)."""


@contextlib.contextmanager
def _interruptible(stop_now: Callable[[], bool] | None = None) -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP (and SIGUSR1 while ``stop_now()``) into `_Interrupted`
    meanwhile, so that coord stops the gates (a session of their own: Ctrl-C does not reach
    them) and still records the session."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals; elsewhere they act as before
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGUSR1:
            raise _Interrupted(signal.Signals(signum).name)
        if stop_now is not None and stop_now():
            raise _Interrupted(STOP_NOW)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) + ((signal.SIGUSR1,) if stop_now else ())
    previous = {signum: signal.signal(signum, interrupt) for signum in handled}
    try:
        if stop_now is not None and stop_now():  # asked for before these handlers heard of it
            raise _Interrupted(STOP_NOW)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _kill_group(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:  # stopped before it started
        return
    with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, for a message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])
