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
from mosaic_invoke.store.session import Session

HARD = "hard"
"""A runtime held for the rest of the loop by a usage wall that no wait lifts."""
UNUSABLE = "unusable"
"""A runtime held for the rest of the loop: its agent is not logged in, or not installed."""
LIMIT_MARGIN = 60.0
"""Seconds past a usage limit's reset before the next session starts, when the loop waits (a
runtime it moved on from is taken back as soon as its limit has lifted)."""


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
    return lifts is None or now >= lifts.timestamp()


def choose(record: LoopRecord, order: tuple[str, ...], now: float | None = None) -> LoopRecord:
    """Before a session: the first runtime of ``order`` that nothing holds (back to the first
    once its ``resume_at`` has passed); holds that have lifted are forgotten. All held: as it was."""
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


def fall_back(
    record: LoopRecord, session: Session, order: tuple[str, ...], fallback_after: float | None
) -> tuple[LoopRecord, str | None]:
    """After ``session`` (counted in ``record``): its runtime held and the next one chosen, with
    no wait, when its agent cannot work here, or a usage limit would hold the loop longer than
    ``fallback_after`` (a hard wall: for good); and what to say of it. Else ``record`` as it is."""
    if session.unusable:
        mark: str | None = UNUSABLE
    elif session.ended_reason != "usage-limit":
        mark = None
    elif session.limit == "hard" or session.resume_at is None:
        mark = HARD
    else:
        lifts = parse_iso(session.resume_at)
        now = time.time()
        wait = max(lifts.timestamp() if lifts else 0.0, now) + LIMIT_MARGIN - now  # as the loop would wait
        mark = session.resume_at if fallback_after is not None and wait > fallback_after else None
    moved = move_on(record, order, session.runtime, mark) if mark is not None else None
    if moved is None:
        return record, None
    why = {UNUSABLE: "cannot work here", HARD: "hit a usage limit that no wait lifts"}.get(
        str(mark), f"is held by a usage limit until {mark}"
    )
    return moved, f"loop: {session.runtime} {why}; the next session runs on {moved.runtime}"


def cannot_start(record: LoopRecord, order: tuple[str, ...], runtime: str, error: str) -> tuple[LoopRecord | None, str]:
    """``runtime``'s agent cannot even start (no such program): the record moved on to the next
    runtime, or None when there is none; and what to say of it."""
    moved = move_on(record, order, runtime, UNUSABLE)
    if moved is None:
        return None, error
    return moved, f"loop: {runtime} cannot work here ({error}); the next session runs on {moved.runtime}"


def at_start(
    record: LoopRecord, last: Session | None, order: tuple[str, ...], fallback_after: float | None
) -> LoopRecord:
    """A new loop that inherits a usage-limit wait from the last session: moved on to the next
    runtime instead, as the last loop would have, when the wait is longer than ``fallback_after``."""
    if not order or not record.waiting_until or last is None or last.ended_reason != "usage-limit":
        return record
    return fall_back(record, last, order, fallback_after)[0]


def moved_on(record: LoopRecord, session: Session) -> bool:
    """Whether the loop moved on from ``session``'s runtime to another for the next session."""
    return record.runtime is not None and record.runtime != session.runtime
