"""``coord.loop --lanes N``: up to N sessions at once, each in a lane of its own (SPEC 15).

The loop starts each lane's session under a supervisor (`lanesession`), which follows the
agent, lands a claim through the merge queue and records the session's end. The loop itself
chooses tasks (from the mission's branch), starts lanes, waits for them, counts what ended,
removes their worktrees, and stops. A loop killed meanwhile leaves supervisors at work: the
next one waits for them (`settle`), never starting their tasks twice.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from typing import IO, Protocol, cast

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError, command
from mosaic_invoke.loop.landing import leave_lane
from mosaic_invoke.loop.laneclaim import CLAIM_VARIABLE, handed
from mosaic_invoke.loop.lanes import branch_tasks, choose, mission_branch, open_lane
from mosaic_invoke.loop.lanesremote import SharedLanes
from mosaic_invoke.loop.lanework import RunningLane, close_ended, recorded, settle, spare_supervisor, start_session
from mosaic_invoke.loop.policy import (
    Stop,
    caps_reached,
    counted,
    describe,
    first_stop,
    gates_fail,
    progress,
    session_stops,
)
from mosaic_invoke.remote.claim import Claim
from mosaic_invoke.session.record import ended_line
from mosaic_invoke.session.signals import Signals
from mosaic_invoke.store.clock import format_span, parse_iso
from mosaic_invoke.store.loopfile import LoopRecord, stop_now_requested, stop_requested
from mosaic_invoke.store.session import Session
from mosaic_invoke.tasks.selection import named_milestone, next_runnable
from mosaic_invoke.tasks.tasksfile import TasksFile

TICK = 0.05
"""Seconds between looks at the running lanes."""
RESIGNAL = 5.0
"""Seconds between the SIGTERMs sent to a lane that is being stopped and still runs."""
_STICKY = ("max-failures", "max-attempts", "stopped", "interrupted", "usage-limit", "agent-unusable")
"""Stop reasons that hold once found: no lane starts after them; the others are judged anew."""


class Host(Protocol):
    """What the lanes need of the loop that runs them (`loop._Loop`)."""

    mission: Mission
    options: RunOptions
    caps: LoopCaps
    report: Callable[[str], None]
    record: LoopRecord
    signals: Signals

    @property
    def interrupted(self) -> bool: ...

    def stop(self, reason: str, detail: str | None = None) -> LoopRecord: ...
    def save(self) -> None: ...
    def rewrite_report(self, *, wait: bool = False) -> None: ...
    def elapsed(self) -> float: ...


def run_lanes(
    host: Host, *, allow_failing_gates: bool, on_ready: Callable[[LoopRecord], None] | None = None
) -> LoopRecord:
    """Run the mission's sessions, up to ``host.caps.lanes`` at once, until a stop."""
    return _Lanes(host).run(allow_failing_gates=allow_failing_gates, on_ready=on_ready)


class _Lanes:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.mission = host.mission
        self.orchestrator = host.mission.orchestrator_path
        self.caps = host.caps
        self.running: dict[str, RunningLane] = {}
        self.in_row: dict[int, int] = {}
        """Failures in a row, per lane."""
        self.ready_at: dict[int, float] = {}
        """When a lane may start its next session (after a back-off or a pause)."""
        self.sticky: list[Stop] = []
        self.branch = ""
        self.said_wait: str | None = None
        self.task_ready_at: dict[str, float] = {}
        """When a task that failed may run again (no other lane takes it up during its back-off)."""
        self.milestone = named_milestone(self.mission, host.options.milestone) if host.options.milestone else None
        self.spare: subprocess.Popen[bytes] | None = None
        """A lane supervisor started ahead of the next session."""
        self.tasks: tuple[tuple[int, int], TasksFile] | None = None
        """The tasks file on the mission's branch, and when it was read (sessions ended, remote polls)."""
        self.shared: SharedLanes | None = None
        """The remote the hosts share (SPEC 16), with mission.yaml's `remote`."""

    def run(self, *, allow_failing_gates: bool, on_ready: Callable[[LoopRecord], None] | None) -> LoopRecord:
        self.spare = spare_supervisor(self.mission)  # it loads while the gates run
        try:
            return self._run(allow_failing_gates=allow_failing_gates, on_ready=on_ready)
        finally:
            if self.spare is not None:  # no session for it: it ends once its stdin closes
                with contextlib.suppress(OSError):
                    cast(IO[bytes], self.spare.stdin).close()
                self.spare.wait()

    def _run(self, *, allow_failing_gates: bool, on_ready: Callable[[LoopRecord], None] | None) -> LoopRecord:
        try:
            if not allow_failing_gates and (failing := gates_fail(self.mission)):
                return self.host.stop(*failing)
            self.branch = mission_branch(self.mission, self.caps.lanes)
            if self.mission.remote is not None:
                self.shared = SharedLanes(self.mission, self.branch, self.host.report, self._now, brief=True)
                self.shared.poll(())  # the remote branch fetched, before any lane is settled on it
            for running in settle(self.mission, self.host.options, self.branch, self.host.report):
                self.running[running.task_id] = running
            if self.shared is not None:
                self.shared.poll(self.running)  # a claim of a lane that died here is released
            self._save()
            while True:
                self.reap()
                reason = self.stop_reason()
                if reason is not None and self._now():
                    self.halt()
                if reason is None:
                    self.fill()
                    if on_ready is not None:  # nothing stopped it before its first session
                        on_ready(self.host.record)
                        on_ready = None
                    if not self.running and not self._waiting() and not self._backing_off():
                        reason = self.stop_reason(idle=True)
                if reason is not None and not self.running:
                    return self.host.stop(*reason)
                self.host.signals.sleep(TICK)  # a signal (a lane's supervisor ended, a stop) wakes it
        except CoordError as error:
            self.halt()
            while self.running:  # every lane recorded before the loop says it stopped
                self.reap()
                self.halt()
                self.host.signals.sleep(TICK)  # a signal (a lane's supervisor ended, a stop) wakes it
            return self.host.stop("error", str(error))

    # Starting lanes

    def fill(self) -> None:
        """Start a session in each free lane that has a task it may run."""
        if self._waiting():
            return
        now = time.monotonic()
        used = {running.lane for running in self.running.values()}
        free = [n for n in range(1, self.caps.lanes + 1) if n not in used and self.ready_at.get(n, 0.0) <= now]
        if self.caps.max_sessions:
            free = free[: max(0, self.caps.max_sessions - self._started())]
        if not free:
            return
        if self.shared is not None and not self.shared.refresh(self.running):
            return  # the remote does not answer: no lane starts until it does
        tasks = self._branch_tasks()
        busy = {task_id: running.paths for task_id, running in self.running.items()}
        held = [task_id for task_id, moment in self.task_ready_at.items() if moment > now]
        if self.shared is not None:  # other hosts' tasks, as if they ran here
            busy.update(self.shared.held_elsewhere(tasks))
        chosen = choose(self.mission, tasks, busy, len(free), milestone=self.milestone, skip=held)
        for task, lane in zip(chosen, free, strict=False):
            claim = self.shared.claim_for(task.id, lane) if self.shared is not None else None
            if self.shared is None or claim is not None:  # else: held elsewhere, or done there already
                self.start(lane, task.id, task.paths, claim)

    def start(self, number: int, task_id: str, paths: tuple[str, ...], claim: Claim | None = None) -> None:
        options = self.host.options
        if claim is not None:  # the lane's supervisor renews it while the session runs
            options = replace(options, env={**options.env, CLAIM_VARIABLE: handed(claim)})
        lane = None
        try:
            lane = open_lane(self.mission, task_id, self.branch)
            spare, self.spare = self.spare, None
            running, launched = start_session(
                self.mission, options, self.host.record.loop_id, number, lane, self.branch, paths, spare
            )
        except BaseException:
            if lane is not None:
                leave_lane(self.mission, lane, self.branch, f"{task_id}: left uncommitted", self.host.report)
            if self.shared is not None:
                self.shared.let_go(claim)
            raise
        self.running[task_id] = running
        self.spare = spare_supervisor(self.mission)  # it loads while this lane works
        self._save()
        launched.release()  # the supervisor lets the agent start only now: the loop knows of it
        session = launched.session
        self.host.report(f"session {session.session_id} started in lane {number}: task {task_id}, pid {session.pid}")

    # Lanes that ended

    def reap(self) -> None:
        for task_id, running in list(self.running.items()):
            if running.alive:
                continue
            session = recorded(self.mission, running)
            del self.running[task_id]
            self.ended(running, session)

    def ended(self, running: RunningLane, session: Session) -> None:
        """Count a lane's session, remove its worktree (its branch too once landed), say how it went."""
        close_ended(self.mission, running, self.branch, self.host.report)
        if self.shared is not None:  # a lane is free: the next choice is made on the remote as it is now
            self.shared.poll_soon()
        record = self.host.record
        stopped = self._now() or self.host.interrupted
        counted_in = counted(
            replace(record, failures_in_row=self.in_row.get(running.lane, 0)), session, self.caps, stopped=stopped
        )
        self.in_row[running.lane] = counted_in.failures_in_row
        waiting_until, waiting_for = record.waiting_until, record.waiting_for
        if session.ended_reason == "usage-limit":  # one account for every lane: all of them wait
            waiting_until, waiting_for = counted_in.waiting_until, counted_in.waiting_for
        elif counted_in.waiting_until:
            moment = parse_iso(counted_in.waiting_until)
            seconds = moment.timestamp() - time.time() if moment else 0.0
            self.ready_at[running.lane] = self.task_ready_at[running.task_id] = time.monotonic() + seconds
        self.host.record = replace(
            counted_in,
            failures_in_row=max(self.in_row.values(), default=0),
            waiting_until=waiting_until,
            waiting_for=waiting_for,
            lanes=[other.view() for other in self.running.values()],
        )
        self.host.save()
        self.host.report(ended_line(session))
        self.host.report(describe(self.host.record, session, self.caps, waits=False))
        if running.lane in self.ready_at and self.ready_at[running.lane] > time.monotonic():
            seconds = self.ready_at[running.lane] - time.monotonic()
            why = counted_in.waiting_for or "a pause"
            self.host.report(f"lane {running.lane} waits {format_span(seconds)} before its next session: {why}")
        self._judge_ended(running.lane, session)
        self.host.rewrite_report()

    def _judge_ended(self, lane: int, session: Session) -> None:
        """The stops that a session's end sets for good: its lane's failures in a row, and what
        it says of its task or its agent (as after a single lane's session)."""
        if self.caps.max_failures and self.in_row.get(lane, 0) >= self.caps.max_failures:
            said = f"{self.in_row[lane]} sessions in a row failed or were rejected in lane {lane}"
            self.sticky.append(("max-failures", said))
        self.sticky += session_stops(self.caps, self.host.record, session)

    # Stopping

    def stop_reason(self, *, idle: bool = False) -> Stop | None:
        """Why no lane starts now (the loop stops once none runs); ``idle``: nothing runs and
        nothing could start, so the mission's progress decides."""
        found = list(self.sticky)
        if self.host.interrupted:
            found.append(("interrupted", "coord was interrupted"))
        if stop_requested(self.orchestrator) is not None:
            found.append(("stopped", f"`{command('stop')}` asked for it"))
        found += caps_reached(self.caps, self.host.record, self.host.elapsed(), self._started())
        if idle or not self.running:
            found += progress(self.mission, self.host.options, self._branch_tasks())
            if self.shared is not None and self.shared.waiting(self._branch_tasks(), say=idle):
                found = [stop for stop in found if stop[0] != "no-runnable-task"]  # other hosts work on it
                idle = False  # what is left runs elsewhere: the loop waits for it
        if idle and not found:
            chosen = next_runnable(self.mission, self._branch_tasks(), milestone=self.milestone)
            found.append(("no-runnable-task", chosen if isinstance(chosen, str) else "no lane could start a task"))
        reason = first_stop(found)
        if reason is not None and reason[0] in _STICKY and reason not in self.sticky:
            self.sticky.append(reason)
        return reason

    def halt(self) -> None:
        """Interrupt every lane (again, a while after the last time, while it still runs)."""
        now = time.monotonic()
        for running in self.running.values():
            if running.signalled_at is not None and now - running.signalled_at < RESIGNAL:
                continue
            running.signalled_at = now
            running.interrupt()

    # Helpers

    def _now(self) -> bool:
        return (
            self.host.interrupted
            or stop_now_requested(self.orchestrator)
            or any(reason[0] == "error" for reason in self.sticky)
        )

    def _started(self) -> int:
        return len(self.host.record.sessions) + len(self.running)

    def _waiting(self) -> bool:
        """Whether the loop waits (a usage limit, inherited or met): no lane starts meanwhile."""
        until = parse_iso(self.host.record.waiting_until) if self.host.record.waiting_until else None
        if until is None or until.timestamp() <= time.time():
            return False
        if self.said_wait != self.host.record.waiting_until:
            self.said_wait = self.host.record.waiting_until
            span = format_span(until.timestamp() - time.time())
            why = self.host.record.waiting_for or "the next session"
            self.host.report(f"loop waits {span}, until {self.host.record.waiting_until}, for {why}")
        return True

    def _backing_off(self) -> bool:
        """Whether a lane or a task waits out a back-off or a pause (then the loop waits with it)."""
        now = time.monotonic()
        return any(moment > now for moment in (*self.ready_at.values(), *self.task_ready_at.values()))

    def _branch_tasks(self) -> TasksFile:
        """The tasks file on the mission's branch, read again once a session has ended (only a
        landing, or a person, changes it)."""
        read = (len(self.host.record.sessions), self.shared.polls if self.shared is not None else 0)
        if self.tasks is None or self.tasks[0] != read:
            self.tasks = (read, branch_tasks(self.mission, self.branch))
        return self.tasks[1]

    def _save(self) -> None:
        views = [running.view() for running in self.running.values()]
        self.host.record = replace(self.host.record, lanes=sorted(views, key=lambda view: int(str(view["lane"]))))
        self.host.save()
