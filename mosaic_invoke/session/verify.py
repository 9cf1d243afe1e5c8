"""After a session: its claim kept to its own task, what git says, the gates, and the verdict."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session import git
from mosaic_invoke.session.signals import listening
from mosaic_invoke.session.watch import Limits, watch
from mosaic_invoke.store.clock import format_span
from mosaic_invoke.store.files import open_private
from mosaic_invoke.tasks.tasksfile import TasksFile, TaskStatus
from mosaic_invoke.tasks.tasksfile import load as load_tasks

GATE_KILL_GRACE = 3.0
"""Seconds between SIGTERM (or SIGINT) and SIGKILL when coord stops the gates."""
STOP_NOW = "stop --now"
"""What stopped gates that `coord.stop --now` cut short."""
CLAIMS = (TaskStatus.DONE, TaskStatus.CANCELLED)
"""The statuses by which a session would settle a task: it may set only its own task's."""


@dataclass(frozen=True)
class Start:
    """What the harness compares a session's end with: the moment it began."""

    task_id: str
    statuses: Mapping[str, str]
    """Every task's status as the session began."""
    head_before: str | None
    tree_before: str | None

    @property
    def done_before(self) -> frozenset[str]:
        done = TaskStatus.DONE.value  # once: an enum's value is a property
        return frozenset(task for task, status in self.statuses.items() if status == done)

    def changed(self, now: Mapping[str, str]) -> list[str]:
        """The tasks whose status in ``now`` (`TasksFile.status_values`) differs from the start's
        (a task added since has not changed)."""
        before = self.statuses
        return [task for task, value in now.items() if before.get(task, value) != value]


@dataclass(frozen=True)
class Findings:
    """What verification adds to the session record, and whether the task goes back to in-progress."""

    fields: Mapping[str, Any]
    reopen: bool = False


@dataclass(frozen=True)
class GateRun:
    command: str
    exit_code: int | None
    """None when the gates ran past their timeout, or were stopped."""
    duration_seconds: int
    log_path: str
    stopped_by: str | None = None
    """``SIGINT``, ``SIGTERM``, ``SIGHUP`` or ``stop --now``: coord was asked to stop while they ran."""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        found = {
            "command": self.command,
            "exit_code": self.exit_code,
            "passed": self.passed,
            "duration_seconds": self.duration_seconds,
            "log_path": self.log_path,
        }
        return {**found, "interrupted": True} if self.stopped_by else found

    def failure(self, timeout: float) -> str:
        if self.stopped_by is not None:
            return f"`{self.command}` was interrupted ({self.stopped_by})"
        if self.exit_code is None:
            return f"`{self.command}` timed out after {format_span(timeout)}"
        return f"`{self.command}` failed (exit {self.exit_code})"


class Verifier(Protocol):
    """What judges a session once its end is recorded: `verify`, or a lane's verify-and-land."""

    def __call__(
        self,
        mission: Mission,
        begun: Start,
        ended_reason: str,
        gate_log: Path,
        env: Mapping[str, str],
        report: Callable[[str], None],
        *,
        interrupted: str | None = None,
        stop_now: Callable[[], bool] | None = None,
    ) -> Findings: ...


def bookkeeping(mission: Mission) -> tuple[Path, ...]:
    """coord's own files, which no session's "change" counts."""
    return (mission.orchestrator_path, mission.tasks_path)


def start(mission: Mission, tasks: TasksFile, task_id: str) -> Start:
    return Start(
        task_id=task_id,
        statuses=tasks.status_values(),
        head_before=git.head(mission.root),
        tree_before=git.work_tree_state(mission.root, bookkeeping(mission)),
    )


def keep_to_own_claim(mission: Mission, begun: Start) -> list[str]:
    """Set back the rows of other tasks that the session set to ``done`` or ``cancelled`` (their
    cells only); returns their ids. Call under the state lock."""
    tasks = load_tasks(mission.tasks_path)
    claims = {status.value for status in CLAIMS}
    now = tasks.status_values()
    changes = {
        task: TaskStatus(begun.statuses[task])
        for task in begun.changed(now)
        if task != begun.task_id and now[task] in claims
    }
    if changes:
        tasks.write_statuses(changes)
    return sorted(changes)


def verify(
    mission: Mission,
    begun: Start,
    ended_reason: str,
    gate_log: Path,
    env: Mapping[str, str],
    report: Callable[[str], None],
    *,
    interrupted: str | None = None,
    stop_now: Callable[[], bool] | None = None,
) -> Findings:
    """Re-read the tasks file, ask git, run the gates when the task is done: the verdict.

    A session that coord was asked to stop (``interrupted``: the signal), or gates it was asked to
    stop, leave the claim unverified: verdict ``none``, the task back to in-progress.
    """
    changes = git.changes(mission.root, begun.head_before, begun.tree_before, bookkeeping(mission))
    fields: dict[str, Any] = {"git": changes}  # `changed` too: the no-progress breaker reads it
    try:
        tasks = load_tasks(mission.tasks_path)
    except CoordError as error:
        report(f"warning: cannot verify the session: {error}")
        return Findings({**fields, "verdict": "unfinished"})
    status = tasks.status_of(begun.task_id)
    fields["task_status_after"] = status.value if status else None
    fields["tasks_done"] = sorted(tasks.ids(TaskStatus.DONE) - begun.done_before)
    others = set(begun.changed(tasks.status_values()))
    if others - {begun.task_id}:  # a status the agent changed is progress (rows set back are not)
        fields["tasks_changed"] = sorted(others - {begun.task_id})
    if status is not TaskStatus.DONE:
        touched = status is not TaskStatus.IN_PROGRESS
        fields["verdict"] = "unfinished" if ended_reason == "completed" or touched else "none"
        return Findings(fields)
    checks = mission.verify
    if checks is None:
        return Findings({**fields, "verdict": "accepted"})
    if interrupted is not None:  # the user asked coord to stop: no gates start
        gates = GateRun(checks.command, None, 0, str(gate_log), stopped_by=interrupted)
    else:
        gates = run_gates(mission, checks.command, checks.timeout, gate_log, env, stop_now)
    fields["verification"] = gates.to_dict()
    if gates.stopped_by is not None:
        return Findings({**fields, "verdict": "none"}, reopen=True)
    problem = None
    if not gates.passed:
        problem = gates.failure(checks.timeout)
    elif checks.require_change and changes is not None and not changes["changed"]:
        problem = "no commit was made and nothing in the work tree changed"
    if problem is None:
        return Findings({**fields, "verdict": "accepted"})
    return Findings({**fields, "verdict": "rejected", "rejected_because": problem}, reopen=True)


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
    """Run the gates by ``/bin/sh -c`` in the project root (or ``cwd``: a lane's), output to ``log_path``.

    They obey coord's signal policy as an agent does: SIGINT, SIGTERM or SIGHUP to coord, or
    ``stop_now()`` (`coord.stop --now`, which also wakes coord with SIGUSR1), stop them.
    """
    began = time.monotonic()
    with open_private(log_path, append=False) as log, listening() as signals:
        log.write(f"$ {command}\n".encode())
        log.flush()
        seen = len(signals.seen)
        if stop_now is not None and stop_now():  # asked for before coord listened for it
            log.write(f"\ncoord: stopped by {STOP_NOW}\n".encode())
            return GateRun(command, None, 0, str(log_path), STOP_NOW)
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd or mission.root,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C at a terminal does not reach them: coord passes it on
            )
        except OSError as exc:
            log.write(f"cannot run: {exc.strerror}\n".encode())
            return GateRun(command, 127, 0, str(log_path))
        limits = Limits(session=timeout, kill_grace=GATE_KILL_GRACE)
        watched = watch(process, None, _ignore, limits, stop_now, since=seen)  # a signal as they started counts
        code: int | None = watched.exit_code
        stopped_by = watched.signalled or (STOP_NOW if watched.stopped else None)
        if stopped_by is not None:
            code = None
            log.write(f"\ncoord: stopped by {stopped_by}\n".encode())
        elif watched.timed_out:
            code = None
            log.write(f"\ncoord: killed after {format_span(timeout)}\n".encode())
    return GateRun(command, code, int(time.monotonic() - began), str(log_path), stopped_by)


def _ignore(line: bytes) -> None:
    """The gates write to their log themselves."""


TAIL_BYTES = 4096
"""What a message keeps of a log at most: its last 4 KiB."""


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, within its last `TAIL_BYTES`, for a message; a line
    cut there starts with `…`. The log is never read whole: a gate may print 100 MB."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - TAIL_BYTES))
            data = log.read(TAIL_BYTES)
    except OSError:
        return ""
    kept = data.decode(errors="replace").rstrip("\n").split("\n")
    cut = size > TAIL_BYTES and len(kept) <= lines  # the first line kept began before the window
    kept = kept[-lines:]
    if cut:
        kept[0] = "…" + kept[0]
    return "\n".join(kept)
