"""A lane at work: starting its session, the session's end as recorded, closing the lane, and the
lanes a killed loop left behind (SPEC 15)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace

from mosaic_invoke.agents import reported_in_log
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.loop.landing import leave_lane
from mosaic_invoke.loop.lanes import Lane, lane_of, stale_lanes
from mosaic_invoke.loop.lanesession import BRANCH_VARIABLE
from mosaic_invoke.session.launch import Launched, Seat, launch
from mosaic_invoke.session.plan import plan
from mosaic_invoke.session.record import End, record_end, record_verdict
from mosaic_invoke.session.runner import lane_at_work
from mosaic_invoke.session.supervised import Supervised, prestart
from mosaic_invoke.session.verify import Findings
from mosaic_invoke.store.liveness import is_alive
from mosaic_invoke.store.locks import state_lock
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import load_state
from mosaic_invoke.tasks.tasksfile import load as load_tasks

SUPERVISOR = "mosaic_invoke.loop.lanesession"
Report = Callable[[str], None]


@dataclass
class RunningLane:
    """A lane at work: its session, and the supervisor that follows it."""

    lane: int
    task_id: str
    session: Session
    paths: tuple[str, ...]
    supervisor: subprocess.Popen[bytes] | None
    """None for a session an earlier loop started: judged by its pids."""
    signalled_at: float | None = None

    @property
    def alive(self) -> bool:
        if self.supervisor is not None:
            return self.supervisor.poll() is None
        return lane_at_work(self.session)

    def interrupt(self) -> None:
        """SIGTERM to the process that follows the agent (which ends it and records the session),
        only while that very process lives: a pid the system gave to another is never signalled.
        Without it, to the agent itself."""
        session = self.session
        if self.supervisor is not None:
            target = self.supervisor.pid if self.supervisor.poll() is None else None
        elif session.owner_pid is not None and is_alive(session.owner_pid, session.owner_started_at):
            target = session.owner_pid
        else:
            target = session.pid if is_alive(session.pid, session.pid_started_at) else None
        if target is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM)

    def view(self) -> dict[str, object]:
        """The lane as loop.json and `status` show it."""
        return {
            "lane": self.lane,
            "task_id": self.task_id,
            "session_id": self.session.session_id,
            "started_at": self.session.started_at,
            "worktree": self.session.worktree,
        }


def start_session(
    mission: Mission,
    options: RunOptions,
    loop_id: str | None,
    number: int,
    lane: Lane,
    branch: str,
    paths: tuple[str, ...],
    spare: subprocess.Popen[bytes] | None = None,
) -> tuple[RunningLane, Launched]:
    """Plan and launch the session of ``lane`` under its supervisor, its agent behind its gate
    (the caller opens it once the loop has noted the lane)."""
    seen_from = mission.moved_to(lane.project)
    env = {**options.env, "MOSAIC_LANE": str(number), "MOSAIC_WORKTREE": str(lane.worktree), BRANCH_VARIABLE: branch}
    options = replace(options, task=lane.task_id, detach=True, env=env)
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=True)
        tasks = load_tasks(seen_from.tasks_path)  # the lane's copy: its claim is read there too
        chosen = plan(seen_from, tasks, state, options, in_lane=True)
        seat = Seat(number, lane.worktree, SUPERVISOR, spare)
        launched = launch(seen_from, state, tasks, chosen, options, loop_id, seat)
    owner = getattr(launched.release, "__self__", None)  # the supervisor whose `go` opens the gate
    supervisor = owner.process if isinstance(owner, Supervised) else None
    return RunningLane(number, lane.task_id, launched.session, paths, supervisor), launched


def spare_supervisor(mission: Mission) -> subprocess.Popen[bytes]:
    """A lane supervisor started ahead of its session: a lane then starts without waiting for
    Python to load it (most of the time a start takes)."""
    return prestart(SUPERVISOR, mission.root)


def recorded(mission: Mission, running: RunningLane) -> Session:
    """The session of a lane whose supervisor ended, as it recorded it; what the supervisor did
    not record, because it died first, is recorded now (through `session.record`, once)."""
    state = load_state(mission.orchestrator_path, mission.id)
    return _settled(mission, state.session(running.session.session_id) or running.session)


def _settled(mission: Mission, session: Session) -> Session:
    """A lane's session whose supervisor is gone: crashed if its end was never recorded, verdict
    ``none`` if its verdict was not (nothing reopened: the branch never said it was at work)."""
    if session.running:
        end = End("crashed", None, found=reported_in_log(session.log_path, session.output))
        session = record_end(mission, session.session_id, end)
    if session.verdict is None:
        session = record_verdict(mission, session.session_id, Findings({"verdict": "none"}))
    return session


def settle(mission: Mission, options: RunOptions, branch: str, report: Report) -> list[RunningLane]:
    """What an earlier loop left: its lanes' sessions still at work (returned, for the loop to
    wait for), those whose supervisor died recorded as crashed, and the worktrees no live
    session holds removed."""
    dead: list[Session] = []
    live: list[RunningLane] = []
    state = load_state(mission.orchestrator_path, mission.id)
    for session in state.sessions:
        if session.lane is None or not session.task_id or not (session.running or session.verdict is None):
            continue
        if not lane_at_work(session):
            dead.append(session)
            continue
        task = load_tasks(mission.tasks_path).task(session.task_id)
        live.append(RunningLane(session.lane, session.task_id, session, task.paths if task else (), None))
    for session in dead:
        how = "crashed" if session.running else "left without a verdict"
        _settled(mission, session)
        report(f"session {session.session_id} (lane {session.lane}, {session.task_id}) recorded as {how}")
    for running in live:
        report(
            f"session {running.session.session_id} (lane {running.lane}, {running.task_id}) is still running; "
            "the loop waits for it"
        )
    for lane in stale_lanes(mission, live=[running.task_id for running in live]):
        leave_lane(mission, lane, branch, f"{lane.task_id}: what an earlier session left uncommitted", report)
    return live


def close_ended(mission: Mission, running: RunningLane, branch: str, report: Report) -> None:
    """Close the lane of a session that ended, unless its supervisor did already."""
    lane = lane_of(mission, running.task_id)
    if lane.worktree.exists() or lane.worktree.is_symlink():
        session_id = running.session.session_id
        leave_lane(mission, lane, branch, f"{lane.task_id}: what session {session_id} left uncommitted", report)
