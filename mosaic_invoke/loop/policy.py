"""A loop's bookkeeping between sessions: counters, waits, and which stop reason applies."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import replace

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import command
from mosaic_invoke.loop.fallback import LIMIT_MARGIN, moved_on
from mosaic_invoke.loop.progress import count_progress, no_progress
from mosaic_invoke.loop.view import OUTPUT_MARK
from mosaic_invoke.session.verify import STOP_NOW, run_gates, tail
from mosaic_invoke.store.clock import format_span, iso_at, parse_iso
from mosaic_invoke.store.loopfile import LoopRecord, stop_now_requested, stop_requested
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOGS_DIR, State
from mosaic_invoke.tasks.selection import check_milestones, milestone_status, named_milestone, next_runnable
from mosaic_invoke.tasks.tasksfile import TasksFile, TaskStatus
from mosaic_invoke.tasks.tasksfile import load as load_tasks

STOP_REASONS = (
    "mission-done",
    "milestone-done",
    "no-runnable-task",
    "max-sessions",
    "max-hours",
    "max-failures",
    "max-attempts",
    "max-cost",
    "no-progress",
    "stopped",
    "interrupted",
    "usage-limit",
    "agent-unusable",
    "gates-failing",
    "error",
)
"""Every way a loop stops; when several apply at once, the first in this order wins."""
BACKOFF_CEILING = 15 * 60.0
Stop = tuple[str, str]
"""A stop reason and what it means here, for people."""


def before_session(
    mission: Mission, options: RunOptions, caps: LoopCaps, record: LoopRecord, elapsed: float
) -> Stop | None:
    """A stop reason that holds before the next session starts (the mission may be done already)."""
    found = [*progress(mission, options), *caps_reached(caps, record, elapsed)]
    return first_stop(found)


def after_session(
    mission: Mission,
    options: RunOptions,
    caps: LoopCaps,
    record: LoopRecord,
    session: Session,
    elapsed: float,
    *,
    interrupted: bool,
) -> Stop | None:
    """The stop reason that applies after ``session``, already counted in ``record``, if any.

    When several apply, the first in the SPEC's order wins (an always-failing agent on one
    task stops with ``max-failures``, not ``max-attempts``).
    """
    found = [*progress(mission, options), *caps_reached(caps, record, elapsed)]
    if caps.max_failures and record.failures_in_row >= caps.max_failures:
        found.append(("max-failures", f"{record.failures_in_row} sessions in a row failed or were rejected"))
    if stop_requested(mission.orchestrator_path) is not None:
        found.append(("stopped", "a stop was asked for"))
    if interrupted:
        found.append(("interrupted", "coord was interrupted"))
    return first_stop([*found, *session_stops(caps, record, session)])


def session_stops(caps: LoopCaps, record: LoopRecord, session: Session) -> list[Stop]:
    """The stops that ``session``'s end, counted in ``record``, sets whatever else holds: its task
    out of attempts, no progress, an agent that cannot work here, a usage limit no wait lifts."""
    found: list[Stop] = []
    task = session.task_id or ""
    if caps.max_attempts and session.verdict != "accepted" and int(record.attempts.get(task, 0)) >= caps.max_attempts:
        found.append(("max-attempts", f"{task} had {record.attempts[task]} sessions without being accepted done"))
    if why := no_progress(record, caps.max_idle_sessions):
        found.append(("no-progress", why))
    moved = moved_on(record, session)  # runtime fallback: the next session runs on another runtime
    if session.unusable and not moved:  # no session of this agent can succeed until a person acts
        why = (
            f"the agent ({session.runtime}) cannot work here: {session.unusable}; log it in, then start the loop again"
        )
        found.append(("agent-unusable", why))
    if session.ended_reason == "usage-limit" and not moved:
        if session.limit == "hard" or record.waiting_until is None:
            found.append(
                ("usage-limit", f"a usage limit that no wait lifts ({session.final_message or 'see the log'})")
            )
        elif caps.max_wait is not None and _seconds_until(record.waiting_until) > caps.max_wait:
            found.append(("usage-limit", f"the limit lifts at {record.waiting_until}, past --max-wait"))
    return found


def counted(record: LoopRecord, session: Session, caps: LoopCaps, *, stopped: bool = False) -> LoopRecord:
    """``record`` with ``session`` counted, and the wait before the next session set.

    The verdict rules the count, not the exit code: an accepted claim is no failure. A usage
    limit is neither a failure nor an attempt; nor is a session, or its check, ``stopped`` on
    the user's word (`coord.stop --now`, a signal to coord): its loop stops as asked, not with
    a breaker the interruption itself tripped; nor one whose claim another host took over.
    """
    limited = session.ended_reason == "usage-limit"
    check_stopped = bool((session.verification or {}).get("interrupted") or (session.review or {}).get("interrupted"))
    displaced = bool(session.claim_lost)  # another host works on the task now (SPEC 16)
    uncounted = limited or check_stopped or displaced or (stopped and session.ended_reason == "interrupted")
    accepted = session.verdict == "accepted"
    ended_badly = not accepted and session.ended_reason != "completed"
    failed = not uncounted and (ended_badly or session.verdict == "rejected")
    in_row = record.failures_in_row if uncounted else (record.failures_in_row + 1 if failed else 0)
    attempts = dict(record.attempts)
    if not uncounted and session.task_id:
        attempts[session.task_id] = int(attempts.get(session.task_id, 0)) + 1
    wait_until, wait_for = None, None
    if limited and session.resume_at and session.limit != "hard":
        resets = parse_iso(session.resume_at)
        moment = max(resets.timestamp() if resets else 0.0, time.time()) + LIMIT_MARGIN
        wait_until, wait_for = iso_at(moment), "a usage limit to lift"
    elif failed and caps.backoff > 0:
        seconds = min(caps.backoff * 2 ** (in_row - 1), BACKOFF_CEILING)
        wait_until, wait_for = iso_at(time.time() + seconds), f"a back-off after {in_row} failure(s) in a row"
    elif caps.pause > 0:
        wait_until, wait_for = iso_at(time.time() + caps.pause), "the pause between sessions"
    record = replace(
        record,
        sessions=[*record.sessions, session.session_id],
        current_session=None,
        failures_in_row=in_row,
        failures=record.failures + (not uncounted and ended_badly),
        accepted=record.accepted + accepted,
        rejected=record.rejected + (session.verdict == "rejected"),
        attempts=attempts,
        cost_usd=round(record.cost_usd + session.spent_usd, 6),  # its reviewer's cost too
        waiting_until=wait_until,
        waiting_for=wait_for,
    )
    return record if uncounted else count_progress(record, session)


def describe(record: LoopRecord, session: Session, caps: LoopCaps, *, waits: bool = True) -> str:
    """``loop 3/20: sess-007 T-004 completed, accepted (gates passed, 2 commits)``; with the wait
    before the next session unless the loop stops here (``waits`` false)."""
    cap = f"/{caps.max_sessions}" if caps.max_sessions else ""
    how = session.ended_reason or "running"
    if session.verdict:
        how += f", {session.verdict}"
    notes = []
    if session.claim_lost:
        notes.append(session.claim_lost)
    elif session.rejected_because:  # it says what failed
        notes.append(session.rejected_because)
    elif session.verification:
        notes.append("gates passed" if session.verification.get("passed") else "gates failed")
    if session.review and not session.rejected_because:
        notes.append(f"review: {session.review.get('verdict') or 'no verdict'}")
    if session.git and session.git.get("commits"):
        commits = session.git["commits"]
        notes.append(f"{commits} commit{'s' if commits != 1 else ''}")
    if session.spent_usd:
        notes.append(f"${session.spent_usd:.2f}")
    if moved_on(record, session):
        notes.append(f"next on {record.runtime}")
    if waits and record.waiting_until and record.waiting_for:
        notes.append(f"next after {format_span(max(0.0, _seconds_until(record.waiting_until)))}: {record.waiting_for}")
    detail = f" ({', '.join(notes)})" if notes else ""
    return f"loop {len(record.sessions)}{cap}: {session.session_id} {session.task_id or '—'} {how}{detail}"


def wait_past_cap(record: LoopRecord, caps: LoopCaps) -> Stop | None:
    """A usage-limit wait the loop inherited that would be longer than ``--max-wait``."""
    if record.waiting_until is None or caps.max_wait is None:
        return None
    if _seconds_until(record.waiting_until) <= caps.max_wait:
        return None
    return "usage-limit", (
        f"the last loop left a wait for a usage limit until {record.waiting_until}, past --max-wait "
        f"({format_span(caps.max_wait)})"
    )


def inherited_wait(previous: LoopRecord | None, state: State) -> str | None:
    """A usage-limit wait the last loop (or the last session) left, still in the future."""
    candidates = []
    if previous is not None and previous.waiting_until:
        candidates.append(previous.waiting_until)
    last = next(iter(state.last(1)), None)
    if last is not None and last.ended_reason == "usage-limit" and last.resume_at and last.limit != "hard":
        resets = parse_iso(last.resume_at)
        if resets is not None:
            candidates.append(iso_at(resets.timestamp() + LIMIT_MARGIN))
    future = [moment for moment in candidates if (found := parse_iso(moment)) and found.timestamp() > time.time()]
    return max(future, default=None)


def gates_fail(mission: Mission) -> Stop | None:
    """Run the gates once before a loop's first session: why not to start, if they already fail
    (or coord was interrupted, or asked to stop now, while they ran)."""
    checks = mission.verify
    if checks is None:
        return None
    log = mission.orchestrator_path / LOGS_DIR / "loop-gates.verify.log"

    # `coord.stop --now` stops the gates too (a plain stop lets them finish).
    stop_now = functools.partial(stop_now_requested, mission.orchestrator_path)
    gates = run_gates(mission, checks.command, checks.timeout, log, dict(os.environ), stop_now)
    if gates.passed:
        return None
    if gates.stopped_by == STOP_NOW:
        return "stopped", f"`{command('stop')} --now` asked for it while the gates ran before any session"
    if gates.stopped_by is not None:
        return "interrupted", f"coord was interrupted ({gates.stopped_by}) while the gates ran before any session"
    output = tail(log, 10).removeprefix(f"$ {checks.command}").strip("\n")  # not the echo
    shown = log.relative_to(mission.root) if log.is_relative_to(mission.root) else log
    said = f"output: {shown}" if output else f"output: {shown} (it printed nothing)"
    quoted = "".join(f"\n{OUTPUT_MARK}{line}" for line in output.split("\n")) if output else ""
    return "gates-failing", (
        f"the gates already fail before any session: {gates.failure(checks.timeout)}; fix them first, "
        f"or pass --allow-failing-gates; {said}{quoted}"
    )


def progress(mission: Mission, options: RunOptions, tasks: TasksFile | None = None) -> list[Stop]:
    """Whether the mission (or the milestone run) is done, or no task can run; ``tasks`` as
    lanes read them (from the mission's branch), else the tasks file."""
    tasks = tasks if tasks is not None else load_tasks(mission.tasks_path)
    check_milestones(mission, tasks)  # as `run` does: a mistake in the tasks file is an error
    counts = tasks.counts()
    total = sum(counts.values())
    finished = sum(n for (_, status), n in counts.items() if status in (TaskStatus.DONE, TaskStatus.CANCELLED))
    found: list[Stop] = []
    if total and finished == total:
        found.append(("mission-done", f"all {total} tasks are done or cancelled"))
    milestone = named_milestone(mission, options.milestone) if options.milestone else None
    if milestone is not None and milestone_status(milestone, counts).value == "done":
        found.append(("milestone-done", f"milestone {milestone.id} is done"))
    if not found:
        chosen = next_runnable(mission, tasks, milestone=milestone)
        if isinstance(chosen, str):
            found.append(("no-runnable-task", chosen))
    return found


def caps_reached(caps: LoopCaps, record: LoopRecord, elapsed: float, started: int | None = None) -> list[Stop]:
    """The caps reached; ``started``: the sessions started, where some still run (lanes)."""
    found: list[Stop] = []
    count = len(record.sessions) if started is None else started
    if caps.max_sessions and count >= caps.max_sessions:
        ran = "ran" if started is None else "started"
        found.append(("max-sessions", f"{count} session{'s' if count != 1 else ''} {ran}"))
    if caps.max_hours and elapsed >= caps.max_hours:
        found.append(("max-hours", f"the loop ran {format_span(elapsed)}"))
    if caps.max_cost_usd and record.cost_usd >= caps.max_cost_usd:
        found.append(("max-cost", f"the sessions cost ${record.cost_usd:.2f}"))
    return found


def first_stop(found: list[Stop]) -> Stop | None:
    return min(found, key=lambda stop: STOP_REASONS.index(stop[0]), default=None)


def _seconds_until(moment: str) -> float:
    parsed = parse_iso(moment)
    return parsed.timestamp() - time.time() if parsed else 0.0
