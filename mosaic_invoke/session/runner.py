"""One session's lifecycle: settle the lock, plan, launch behind a gate, follow, verify, record."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from mosaic_invoke.config.guides import missing_guides
from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError, SessionActive, command
from mosaic_invoke.session.plan import Plan, plan
from mosaic_invoke.store.files import write_json_atomic
from mosaic_invoke.store.liveness import judge
from mosaic_invoke.store.locks import SessionLock, read_session_lock, state_lock
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOOP_FILE, NEXT_TASK_FILE, State, load_state, save_state
from mosaic_invoke.tasks.selection import check_milestones, open_dependencies
from mosaic_invoke.tasks.tasksfile import load as load_tasks

if TYPE_CHECKING:
    from mosaic_invoke.session.launch import Launched
    from mosaic_invoke.store.loopfile import LoopRecord

Report = Callable[[str], None]
INTERRUPTED = 130
"""The exit code of a command that coord was asked to stop (SIGINT, SIGTERM, `stop --now`)."""


class Outcome(NamedTuple):
    """What a run did: its plan, and its session (None in print-only mode)."""

    plan: Plan
    session: Session | None = None
    """As recorded at its end; still running when detached."""

    @property
    def exit_code(self) -> int:
        """The agent's; 130 for a session (or its check) that coord was asked to stop."""
        session = self.session
        if session is None or session.running:
            return 0
        if session.ended_reason == "interrupted" or (session.verification or {}).get("interrupted"):
            return INTERRUPTED
        return session.exit_code or 0


def run(
    mission_file: Path, options: RunOptions, report: Report, *, resume: bool = False, display: IO[str] | None = None
) -> Outcome:
    """``coord.run`` (and, with ``resume``, ``coord.resume``); the agent's view goes to ``display``."""
    mission = load_mission(mission_file).with_runtimes(options.runtimes)
    # From before the session lock is written to the verdict: a signal interrupts the session,
    # never kills coord with a lock behind and the session unrecorded. A preview keeps Python's.
    policy: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if not options.print_only:
        from mosaic_invoke.session.signals import listening  # here: a preview loads none of it

        policy = listening()
    with policy:
        started = begin(mission, options, report, resume=resume)
        if isinstance(started, Plan):
            return Outcome(plan=started)
        if started.agent is None:
            started.release()
            return Outcome(plan=started.plan, session=started.session)
        # Here: a preview never loads what follows an agent (its watcher, verification, hooks).
        from mosaic_invoke.session.follow import follow_launched

        report(f"session {started.session.session_id} started: task {started.plan.task.id}, pid {started.session.pid}")
        return Outcome(plan=started.plan, session=follow_launched(started, options, report, display))


def begin(
    mission: Mission, options: RunOptions, report: Report, *, resume: bool, loop_id: str | None = None
) -> Plan | Launched:
    """Under the state lock: settle the session lock, plan, and (unless print-only) launch.

    A session of loop ``loop_id`` is that loop's; any other refuses while a loop runs.
    """
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=not options.print_only)
        if not options.print_only:
            state = _settle_loop(mission, state, loop_id)
        state, cut_off, live_task = _settle_lock(mission, state, options, report, resume=resume)
        tasks = load_tasks(mission.tasks_path)
        check_milestones(mission, tasks)
        for warning in tasks.warnings:
            report(f"warning: {warning}")
        chosen = plan(mission, tasks, state, options, cut_off_task=cut_off, live_task=live_task)
        if chosen.session_id != (expected := state.next_session_id()):
            skipped = int(chosen.session_id.removeprefix("sess-")) - int(expected.removeprefix("sess-"))
            report(
                f"warning: logs/ holds {expected}{' and later sessions' if skipped > 1 else ''}, which state.json "
                "does not record (a deleted state.journal, or an older state.json put back?); this session is "
                f"{chosen.session_id}, so that none of their files is written over"
            )
        if options.task and (waiting := open_dependencies(tasks, chosen.task)):
            report(f"warning: task {chosen.task.id} depends on {', '.join(waiting)}, not done; running it as asked")
        write_json_atomic(orchestrator / NEXT_TASK_FILE, chosen.capsule, durable=False)  # made anew each time
        if options.print_only:
            if missing := missing_guides(mission):
                report(f"note: {missing}")
            return chosen
        from mosaic_invoke.session.launch import launch  # here: a preview never loads what starts and follows an agent

        return launch(mission, state, tasks, chosen, options, loop_id)


def settle_first(mission: Mission, options: RunOptions, report: Report, *, resume: bool) -> None:
    """What `begin` settles before a session, for a session that runs in a lane (a `run` through
    a shared remote): refuse beside a live loop or session; on resume, record a dead one."""
    with state_lock(mission.orchestrator_path):
        state = load_state(mission.orchestrator_path, mission.id, writing=True)
        state = _settle_loop(mission, state, None)
        _settle_lock(mission, state, options, report, resume=resume)


def _settle_lock(
    mission: Mission, state: State, options: RunOptions, report: Report, *, resume: bool
) -> tuple[State, str | None, str | None]:
    """Refuse while a session lives; on resume, record a dead one as crashed and clear its lock.

    Returns the state, the task a crashed session was cut off on, and the task of a session
    still running (only a preview gets this far with one: it is never refused, says what it
    found and records nothing).
    """
    orchestrator = mission.orchestrator_path
    lock, warning = read_session_lock(orchestrator)
    if warning:
        report(f"warning: {warning}")
    if lock is None:
        return state, None, None
    verdict = lock.judge()
    if verdict == "live" or (verdict == "foreign" and not (resume and options.force)):
        msg = blocking_session(lock, verdict)
        if options.print_only:
            report(f"note: {msg.split(';')[0]}; this is only a preview")
            return state, None, lock.task_id
        raise SessionActive(msg)
    if not resume:
        msg = (
            f"session {lock.session_id} (pid {lock.pid}) is no longer running but left its lock; "
            f"run `{command('resume')}` to record it as crashed and continue"
        )
        if options.print_only:
            report(f"note: {msg}")
            return state, None, None
        raise CoordError(msg)
    # Here: only a stale lock needs what records a session's end (a preview loads none of it).
    from mosaic_invoke.session.record import settle

    # A preview: the prompt as resume would write it, nothing recorded.
    return settle(mission, state, lock, report, preview=options.print_only), lock.task_id, None


def blocking_session(lock: SessionLock, verdict: str) -> str:
    """Why a session lock that is not stale blocks a new session, and what to do: the same
    words from `run` and `loop`."""
    if verdict == "live":
        return (
            f"session {lock.session_id} is still running (pid {lock.pid}, task {lock.task_id or '—'}); "
            "wait for it to end"
        )
    return (
        f"session {lock.session_id} was started on host {lock.host} (pid {lock.pid}); its liveness cannot "
        f"be checked from here: once you know it has ended, run `{command('resume')} --force`"
    )


def _settle_loop(mission: Mission, state: State, loop_id: str | None) -> State:
    """Record a loop whose process died as crashed; refuse to run beside a live loop."""
    orchestrator = mission.orchestrator_path
    if not (orchestrator / LOOP_FILE).exists():  # most missions never ran a loop: import nothing
        return state
    from mosaic_invoke.store.loopfile import read_loop, settle_crashed_loop  # not for a preview (some 3 ms)

    settled = settle_crashed_loop(orchestrator, state)
    if settled is not state:
        save_state(orchestrator, settled)
    record, _ = read_loop(orchestrator)
    if loop_id is None and record is not None and record.running and record.judge() != "stale":
        msg = (
            f"loop {record.loop_id} is running (pid {record.pid} on {record.host}) and starts the sessions; "
            f"stop it with `{command('stop')}`, or wait for it to end"
        )
        raise SessionActive(msg)
    if loop_id is None and (lane := live_lane(settled, record)):
        msg = (
            f"session {lane.session_id} still runs in lane {lane.lane} (task {lane.task_id}), left by a loop that "
            f"ended; continue with `{command('loop')} --lanes N`, which waits for it, or wait for it to end"
        )
        raise SessionActive(msg)
    return settled


def live_lane(state: State, loop: LoopRecord | None) -> Session | None:
    """A session of the lanes the last loop left at work (loop.json keeps them when it died)
    whose supervisor still runs (it lands the work and records the verdict after the agent's
    end): only a loop with lanes goes on beside it."""
    for lane in (loop.lanes or ()) if loop is not None else ():
        session = state.session(str(lane.get("session_id")))
        if session is not None and (session.running or session.verdict is None) and lane_at_work(session):
            return session
    return None


def lane_at_work(session: Session) -> bool:
    """Whether the agent of a lane's session, or the supervisor that follows it, still runs."""
    owner = {"owner_pid": session.owner_pid, "owner_started_at": session.owner_started_at}
    return judge(session.host, session.pid, session.pid_started_at, **owner) != "stale"
