"""A loop's start: what the last loop and its session left is settled, a live one refused,
and the new loop's record written, before any stop reason is judged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import SessionActive, command
from mosaic_invoke.loop.fallback import at_start, runtimes_in_order
from mosaic_invoke.loop.policy import inherited_wait
from mosaic_invoke.session.plan import resolve
from mosaic_invoke.session.record import settle
from mosaic_invoke.session.runner import blocking_session, live_lane
from mosaic_invoke.store.locks import read_session_lock, state_lock
from mosaic_invoke.store.loopfile import LoopRecord, clear_stop, new_loop, read_loop, settle_crashed_loop, write_loop
from mosaic_invoke.store.state import load_state, save_state


def open_loop(
    mission: Mission, options: RunOptions, caps: LoopCaps, report: Callable[[str], None]
) -> tuple[LoopRecord, str | None]:
    """Under the state lock: record a crashed loop and settle a session it left (as `resume`
    does), refuse beside a live loop or session, write loop.json. Returns the new loop's record
    and what was wrong with the last loop's, if anything."""
    resolve(mission, options)  # an unknown runtime is refused before any loop starts
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=True)
        settled = settle_crashed_loop(orchestrator, state)
        if settled is not state:
            save_state(orchestrator, settled)
        previous, warning = read_loop(orchestrator)
        if previous is not None and previous.running and previous.judge() != "stale":
            msg = (
                f"loop {previous.loop_id} is still running (pid {previous.pid} on {previous.host}); "
                f"stop it with `{command('stop')}`"
            )
            raise SessionActive(msg)
        lock, lock_warning = read_session_lock(orchestrator)
        if lock_warning:
            report(f"warning: {lock_warning}")
        if lock is not None and (verdict := lock.judge()) != "stale":
            raise SessionActive(blocking_session(lock, verdict))
        if lock is not None:
            settled = settle(mission, settled, lock, report)
        if caps.lanes == 1 and (lane := live_lane(settled, previous)):  # only lanes go on beside lanes
            msg = (
                f"session {lane.session_id} still runs in lane {lane.lane} (task {lane.task_id}), left by a "
                f"loop that ended; continue with `{command('loop')} --lanes N`, or wait for it to end"
            )
            raise SessionActive(msg)
        clear_stop(orchestrator)
        # `lanes: 1` is not written: a loop of one lane keeps the record it always had.
        written = {
            key: value for key, value in asdict(caps).items() if value is not None and (key, value) != ("lanes", 1)
        }
        record = new_loop(settled, options.milestone, written)
        record = replace(record, waiting_until=inherited_wait(previous, settled))
        if record.waiting_until:
            record = replace(record, waiting_for="a usage limit to lift (as the last loop left it)")
        order = runtimes_in_order(mission, options)  # with a fallback, no such wait
        record = at_start(record, next(iter(settled.last(1)), None), order, caps.fallback_after)
        write_loop(orchestrator, record)
    return record, warning
