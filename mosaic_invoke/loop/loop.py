"""``coord.loop``: sessions one after another, each exactly a run, until the mission is done or a cap stops it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import AgentUnusable, CoordError, NoRunnableTask, SessionActive, command
from mosaic_invoke.loop.fallback import cannot_start, choose, fall_back, runtimes_in_order
from mosaic_invoke.loop.opening import open_loop
from mosaic_invoke.loop.policy import (
    Stop,
    after_session,
    before_session,
    counted,
    describe,
    gates_fail,
    wait_past_cap,
)
from mosaic_invoke.loop.redraw import Redraws
from mosaic_invoke.loop.view import caps_line
from mosaic_invoke.session.follow import follow_launched
from mosaic_invoke.session.hooks import hook_env, run_hook
from mosaic_invoke.session.plan import Plan
from mosaic_invoke.session.record import RecordedError, ended_line
from mosaic_invoke.session.runner import begin
from mosaic_invoke.session.signals import Signals, listening
from mosaic_invoke.store.clock import format_span, parse_iso
from mosaic_invoke.store.locks import state_lock
from mosaic_invoke.store.loopfile import (
    LoopRecord,
    clear_stop,
    stop_now_requested,
    stop_requested,
    write_loop,
)
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import load_state, save_state
from mosaic_invoke.tasks.selection import named_milestone

EXIT_CODES = {
    "mission-done": 0,
    "milestone-done": 0,
    "stopped": 0,
    "no-runnable-task": 5,
    "agent-unusable": 1,
    "gates-failing": 1,
    "error": 1,
    "interrupted": 130,
}
"""Exit code of each stop reason; every other (a cap or breaker) exits 4."""
Report = Callable[[str], None]


def exit_code(reason: str | None) -> int:
    return EXIT_CODES.get(reason or "error", 4)


def run_loop(
    mission_file: Path,
    options: RunOptions,
    caps: LoopCaps,
    *,
    allow_failing_gates: bool,
    report: Report,
    display: IO[str] | None,
    on_start: Callable[[LoopRecord], None] | None = None,
    on_ready: Callable[[LoopRecord], None] | None = None,
) -> LoopRecord:
    """Run the mission's sessions until a stop; returns the loop record as it ended. ``on_start``
    hears of the loop once its record is written, ``on_ready`` once the first gates passed."""
    mission = load_mission(mission_file).with_runtimes(options.runtimes)
    if options.milestone:  # a mistake to refuse before any loop starts
        named_milestone(mission, options.milestone)
    shared = mission.remote is not None  # with a shared remote, every session runs in a lane (SPEC 16)
    if caps.lanes > 1 or shared:  # so are lanes without a branch to land on
        from mosaic_invoke.loop.lanes import mission_branch  # only a loop with lanes loads them (some 40 ms)

        mission_branch(mission, caps.lanes)
    if shared:  # and a remote this clone does not have
        from mosaic_invoke.remote.board import check_remote  # only a mission with a remote loads it

        check_remote(mission)
    loop = _Loop(mission, replace(options, unattended=True, detach=False), caps, report, display)
    with listening() as signals:
        loop.signals = signals
        record = loop.start()
        if on_start is not None:  # a detached loop's output goes to its log from here on
            on_start(record)
        if loop.warning:
            report(f"warning: {loop.warning}")
        report(f"loop {record.loop_id} started: {caps_line(caps)}")
        if caps.lanes > 1 or shared:
            from mosaic_invoke.loop.lanesloop import run_lanes  # as above: only a loop with lanes loads it

            return run_lanes(loop, allow_failing_gates=allow_failing_gates, on_ready=on_ready)
        return loop.run(allow_failing_gates=allow_failing_gates, on_ready=on_ready)


class _Loop:
    def __init__(
        self, mission: Mission, options: RunOptions, caps: LoopCaps, report: Report, display: IO[str] | None
    ) -> None:
        self.mission = mission
        self.orchestrator = mission.orchestrator_path
        self.options = replace(options, session_timeout=caps.session_timeout, idle_timeout=caps.idle_timeout)
        self.caps = caps
        self.report = report
        self.display = display
        self.signals = Signals()
        """What coord was sent (SIGINT, SIGTERM or SIGHUP, during a session too: the loop stops)."""
        self.began = time.monotonic()
        self.redraws = Redraws(mission.config_path, report)
        self.warning: str | None = None
        """What was wrong with the last loop's record, said once the loop's output has its place."""
        self.order = runtimes_in_order(mission, options)
        """The runtimes of `runtime_fallback`, in order; empty: no fallback."""

    @property
    def interrupted(self) -> bool:
        return self.signals.interrupted

    def start(self) -> LoopRecord:
        self.record, self.warning = open_loop(self.mission, self.options, self.caps, self.report)
        return self.record

    def run(self, *, allow_failing_gates: bool, on_ready: Callable[[LoopRecord], None] | None = None) -> LoopRecord:
        try:
            if past := wait_past_cap(self.record, self.caps):  # inherited from the last loop
                return self.stop(*past)
            if not allow_failing_gates and (failing := gates_fail(self.mission)):
                return self.stop(*failing)
            while True:
                reason = self.before()
                if reason is None and on_ready is not None:  # nothing stops it before its first session
                    on_ready(self.record)
                    on_ready = None
                reason = reason or self.wait()
                if reason:
                    return self.stop(*reason)
                ended, problem = self.session()
                if isinstance(ended, tuple):
                    return self.stop(*ended)
                # Counted and saved first: whatever goes wrong next, the loop keeps its session.
                self.record = counted(self.record, ended, self.caps, stopped=self._stop_now())
                if self.order:
                    self.record, said = fall_back(self.record, ended, self.order, self.caps.fallback_after)
                    if said:
                        self.report(said)
                self.save()
                try:
                    reason = after_session(
                        self.mission,
                        self.options,
                        self.caps,
                        self.record,
                        ended,
                        self.elapsed(),
                        interrupted=self.interrupted,
                    )
                except CoordError:
                    self.report(describe(self.record, ended, self.caps, waits=False))
                    raise
                if problem is not None:  # the session is recorded and counted; what failed after it stops the loop
                    self.report(describe(self.record, ended, self.caps, waits=False))
                    return self.stop("error", str(problem))
                self.report(describe(self.record, ended, self.caps, waits=reason is None))  # no wait if it stops
                self.rewrite_report()
                if reason:
                    return self.stop(*reason)
        except CoordError as error:
            return self.stop("error", str(error))

    def before(self) -> Stop | None:
        """A stop reason found before the next session starts."""
        if self.interrupted:
            return "interrupted", "coord was interrupted"
        request = stop_requested(self.orchestrator)
        if request is not None:
            return "stopped", f"`{command('stop')}` asked for it"
        return before_session(self.mission, self.options, self.caps, self.record, self.elapsed())

    def wait(self) -> Stop | None:
        """Wait out a usage limit, a back-off or a pause; a stop reason if the wait is cut short."""
        until = parse_iso(self.record.waiting_until) if self.record.waiting_until else None
        if until is None:
            return None
        seconds = until.timestamp() - time.time()
        if seconds > 0 and self.caps.max_hours and self.elapsed() + seconds >= self.caps.max_hours:
            return "max-hours", f"the wait would outlast the loop's {format_span(self.caps.max_hours)}"
        if seconds > 0:
            why = self.record.waiting_for or "the next session"
            self.report(f"loop waits {format_span(seconds)}, until {self.record.waiting_until}, for {why}")
            deadline = time.monotonic() + seconds
            last_said = time.monotonic()
            while time.monotonic() < deadline:
                if self.interrupted:
                    return "interrupted", "coord was interrupted while it waited"
                if stop_requested(self.orchestrator) is not None:
                    return "stopped", f"`{command('stop')}` asked for it"
                if time.monotonic() - last_said >= 900:
                    self.report(f"loop still waits: {format_span(deadline - time.monotonic())} to go")
                    last_said = time.monotonic()
                self.signals.sleep(min(0.5, max(0.0, deadline - time.monotonic())))  # a signal wakes it
        self.record = replace(self.record, waiting_until=None, waiting_for=None)
        self.save()
        return None

    def session(self) -> tuple[Session | Stop, CoordError | None]:
        """One session, exactly as `run` would run it, and what failed after its end; or why none
        could start."""
        options = self.options
        if self.order:
            runtime = self.record.runtime
            self.record = choose(self.record, self.order)
            if runtime is not None and self.record.runtime != runtime:
                self.report(f"loop: the next session runs on {self.record.runtime} again ({runtime} was standing in)")
            options = replace(options, runtime=self.record.runtime)
        try:
            started = begin(self.mission, options, self.report, resume=True, loop_id=self.record.loop_id)
        except SessionActive as error:
            return ("error", str(error)), None
        except AgentUnusable as error:
            moved, said = cannot_start(self.record, self.order, options.runtime or "", str(error))
            if moved is None:
                return ("agent-unusable", said), None
            self.report(said)
            self.record = moved
            self.save()
            return self.session()
        except NoRunnableTask as error:
            return ("no-runnable-task", str(error).removesuffix("; pass --task to choose one")), None
        if isinstance(started, Plan):  # a loop never previews
            return ("error", "a loop cannot preview"), None
        self.record = replace(self.record, current_session=started.session.session_id)
        self.save()
        self.report(
            f"session {started.session.session_id} started: task {started.plan.task.id}, pid {started.session.pid}"
        )
        problem = None
        try:
            ended = follow_launched(started, self.options, self.report, self.display, self._stop_now)
        except RecordedError as error:
            ended, problem = error.session, error
        self.report(ended_line(ended))
        return ended, problem

    def _stop_now(self) -> bool:
        return stop_now_requested(self.orchestrator) or self.interrupted

    def stop(self, reason: str, detail: str | None = None) -> LoopRecord:
        self.record = self.record.ended(reason, detail)
        with state_lock(self.orchestrator):  # the state first: a kill in between is settled from it
            state = load_state(self.orchestrator, self.mission.id, writing=True)
            save_state(self.orchestrator, state.with_loop(self.record.summary()))
            write_loop(self.orchestrator, self.record)
        clear_stop(self.orchestrator)
        self.rewrite_report(wait=True)
        run_hook(self.mission, "after_loop", self.record.summary(), hook_env(self.mission), self.report)
        return self.record

    def save(self) -> None:
        write_loop(self.orchestrator, self.record)

    def rewrite_report(self, *, wait: bool = False) -> None:
        """The report page after a session, or (``wait``) as the loop stops (`loop: {report: true}`)."""
        if not self.caps.report:
            return
        if wait:
            self.redraws.last()
        else:
            self.redraws.after_session()

    def elapsed(self) -> float:
        return time.monotonic() - self.began
