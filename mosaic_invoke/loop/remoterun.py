"""``coord.run`` with a shared remote (SPEC 16): one session, claimed and landed like a loop's.

The session runs in a lane's worktree under a lane supervisor, which renews the claim, lands
the work through the remote and records the session; `run` shows the agent's output as it
comes (from the session's log) and passes a Ctrl-C or SIGTERM on to the supervisor. A task
another host holds is refused (exit 3), naming the host and since when; so is a session whose
claim another host took over meanwhile.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import IO

from mosaic_invoke.agents import show_log
from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError, NoRunnableTask, SessionActive, command
from mosaic_invoke.loop.landing import leave_lane
from mosaic_invoke.loop.laneclaim import CLAIM_VARIABLE, handed
from mosaic_invoke.loop.lanes import branch_tasks, choose, mission_branch, open_lane
from mosaic_invoke.loop.lanesremote import SharedLanes
from mosaic_invoke.loop.lanework import RunningLane, close_ended, recorded, settle, start_session
from mosaic_invoke.loop.remotelanding import held_line
from mosaic_invoke.remote.claim import Claim, Taken
from mosaic_invoke.session.runner import Outcome, Report, settle_first
from mosaic_invoke.session.signals import listening
from mosaic_invoke.tasks.selection import named_milestone, next_runnable
from mosaic_invoke.tasks.tasksfile import TaskStatus

_TRIES = 5
"""Tasks tried in turn when each is found claimed, or done, once claimed: then `run` gives up."""


def run_remote(
    mission_file: Path, options: RunOptions, report: Report, *, resume: bool, display: IO[str] | None
) -> Outcome:
    """Claim a task on the remote, run its session in a lane, land it through the remote."""
    mission = load_mission(mission_file).with_runtimes(options.runtimes)
    branch = mission_branch(mission, 1)
    settle_first(mission, options, report, resume=resume)
    live = settle(mission, options, branch, report)
    if live:
        at_work = live[0]
        msg = (
            f"session {at_work.session.session_id} still runs in lane {at_work.lane} (task {at_work.task_id}); "
            "wait for it to end"
        )
        raise SessionActive(msg)
    shared = SharedLanes(mission, branch, report, lambda: False)
    shared.poll(())
    claim = _claim(mission, options, shared)
    options = replace(options, env={**options.env, CLAIM_VARIABLE: handed(claim)})
    try:
        lane = open_lane(mission, claim.task_id, branch)
    except BaseException:
        with contextlib.suppress(CoordError):
            shared.let_go(claim)
        raise
    try:
        running, launched = start_session(mission, options, None, 1, lane, branch, ())
    except BaseException:
        leave_lane(mission, lane, branch, f"{claim.task_id}: left uncommitted", report)
        with contextlib.suppress(CoordError):
            shared.let_go(claim)
        raise
    launched.release()
    session = launched.session
    report(f"session {session.session_id} started in {lane.worktree}: task {claim.task_id}, pid {session.pid}")
    if options.detach:
        return Outcome(plan=launched.plan, session=session)
    _show(running, display)
    ended = recorded(mission, running)
    close_ended(mission, running, branch, report)
    if ended.claim_lost:
        msg = f"session {ended.session_id} {ended.ended_reason}: {ended.claim_lost}; nothing of it landed"
        raise SessionActive(msg)
    return Outcome(plan=launched.plan, session=ended)


def _claim(mission: Mission, options: RunOptions, shared: SharedLanes) -> Claim:
    """The task to run, claimed: the one asked for, else the next runnable one no other host holds."""
    milestone = named_milestone(mission, options.milestone) if options.milestone else None
    for _ in range(_TRIES):
        tasks = branch_tasks(mission, shared.branch)
        held = shared.held_elsewhere(tasks)
        if options.task:
            task_id = options.task
            if tasks.task(task_id) is None:
                msg = f"unknown task {task_id!r} on {shared.board.config.name}/{shared.branch}"
                raise CoordError(msg)
            if tasks.status_of(task_id) in (TaskStatus.DONE, TaskStatus.CANCELLED):
                msg = f"task {task_id} is {tasks.status_of(task_id)} on {shared.board.config.name}/{shared.branch}"
                raise CoordError(msg)
            if (taken := shared.held_by(task_id)) is not None:
                raise SessionActive(_elsewhere(taken, task_id))
        else:
            chosen = choose(mission, tasks, held, 1, milestone=milestone)
            if not chosen:
                if held:
                    claims = "; ".join(held_line(t, task) for task in held if (t := shared.held_by(task)) is not None)
                    msg = f"every task that could run now is claimed by another host: {claims}"
                    raise SessionActive(msg)
                found = next_runnable(mission, tasks, milestone=milestone)
                raise NoRunnableTask(f"{found if isinstance(found, str) else 'no task can run'}; pass --task")
            task_id = chosen[0].id
        got = shared.claim(task_id, 1)
        if isinstance(got, Claim):
            return got
        if isinstance(got, Taken) and options.task:
            raise SessionActive(_elsewhere(got, task_id))
    msg = f"no task could be claimed after {_TRIES} tries: other hosts took each first; run `{command('run')}` again"
    raise SessionActive(msg)


def _elsewhere(taken: Taken, task_id: str) -> str:
    return f"{held_line(taken, task_id)}; choose another task, or wait for that host to land it"


def _show(running: RunningLane, display: IO[str] | None) -> None:
    """The agent's output as it comes, until the supervisor has recorded the session; a signal to
    coord meanwhile is passed on to the supervisor, which ends the agent and records it."""
    path = Path(running.session.log_path or "")
    with listening() as signals:
        passed = False

        def still_running() -> bool:
            nonlocal passed
            if signals.interrupted and not passed:
                passed = True
                running.interrupt()
            return running.alive

        def write(line: str) -> None:
            if display is not None:
                print(line, file=display, flush=True)

        show_log(path, running.session.output or "text", follow=True, still_running=still_running, write=write)
