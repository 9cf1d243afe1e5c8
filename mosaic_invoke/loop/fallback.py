"""Runtime fallback (SPEC section 17): a loop's runtimes in order, which one the next session
uses, and a usage limit or an unusable agent moving the loop on to the next one."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from mosaic_invoke.agents.runtimes import DEFAULT_RUNTIME
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.store.clock import parse_iso
from mosaic_invoke.store.loopfile import LoopRecord

HARD = "hard"
"""A runtime held for the rest of the loop by a usage wall that no wait lifts."""
UNUSABLE = "unusable"
"""A runtime held for the rest of the loop: its agent is not logged in, or not installed."""
MARGIN = 60.0
"""Seconds past a limit's reset before its runtime is used again (as a loop waits)."""


def runtimes_in_order(mission: Mission, options: RunOptions) -> tuple[str, ...]:
    """The runtimes a loop may use, in order: `runtime_fallback`, the mission's runtime first
    when the list does not name it; a runtime chosen by flag or config leads. Empty: no
    fallback (none configured, or a `--command` that every session runs)."""
    listed = tuple(mission.runtime_fallback)
    if not listed or options.command:
        return ()
    if options.runtime:
        return (options.runtime, *(name for name in listed if name != options.runtime))
    own = mission.runtime or DEFAULT_RUNTIME
    return listed if own in listed else (own, *listed)


def free(held: Mapping[str, str], name: str, now: float) -> bool:
    """Whether nothing holds runtime ``name`` at ``now``."""
    mark = held.get(name)
    if mark is None:
        return True
    if mark in (HARD, UNUSABLE):
        return False
    lifts = parse_iso(mark)
    return lifts is None or now >= lifts.timestamp() + MARGIN


def choose(record: LoopRecord, order: tuple[str, ...], now: float | None = None) -> LoopRecord:
    """Before a session: the first runtime of ``order`` that nothing holds (back to the first
    once its limit has lifted); holds that have lifted are forgotten. All held: as it was."""
    if not order:
        return record
    moment = time.time() if now is None else now
    held = {name: mark for name, mark in record.held.items() if not free(record.held, name, moment)}
    chosen = next((name for name in order if name not in held), record.runtime)
    return replace(record, runtime=chosen, held=held)


def move_on(record: LoopRecord, order: tuple[str, ...], runtime: str, mark: str) -> LoopRecord | None:
    """``runtime`` is held (``mark``: when its limit lifts, `HARD` or `UNUSABLE`): the record
    with the next free runtime of ``order`` chosen and no wait; None when none is free."""
    if runtime not in order:
        return None
    held = {**record.held, runtime: mark}
    moment = time.time()
    following = next((name for name in order if name != runtime and free(held, name, moment)), None)
    if following is None:
        return None
    return replace(record, runtime=following, held=held, waiting_until=None, waiting_for=None)
