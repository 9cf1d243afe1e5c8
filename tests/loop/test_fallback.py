"""Runtime fallback: the order of a loop's runtimes, holds, moving on, and coming back."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.loop.fallback import HARD, UNUSABLE, at_start, choose, fall_back, move_on, runtimes_in_order
from mosaic_invoke.store.clock import iso_at
from mosaic_invoke.store.loopfile import LoopRecord
from mosaic_invoke.store.session import Session

LOOP = LoopRecord(loop_id="loop-001", pid=1, host="here", started_at="2026-11-20T10:00:00.000Z")


def mission(*fallback: str, runtime: str | None = None) -> Mission:
    return Mission(
        root=Path("/p"),
        config_path=Path("/p/.mosaic/mission.yaml"),
        id="m",
        name="M",
        runtime=runtime,
        runtime_fallback=fallback,
    )


def test_the_order_of_a_loops_runtimes() -> None:
    assert runtimes_in_order(mission(), RunOptions()) == ()
    assert runtimes_in_order(mission("claude", "codex"), RunOptions()) == ("claude", "codex")
    assert runtimes_in_order(mission("codex", "aider", runtime="claude"), RunOptions()) == ("claude", "codex", "aider")
    assert runtimes_in_order(mission("claude", "codex", runtime="codex"), RunOptions()) == ("claude", "codex")
    assert runtimes_in_order(mission("claude", "codex"), RunOptions(runtime="codex")) == ("codex", "claude")
    assert runtimes_in_order(mission("claude", "codex"), RunOptions(command=("my-agent",))) == ()


def test_a_held_runtime_moves_the_loop_on_until_its_limit_lifts() -> None:
    order = ("claude", "codex")
    record = choose(LOOP, order)
    assert record.runtime == "claude"
    lifts = iso_at(time.time() + 5 * 3600)
    moved = move_on(replace(record, waiting_until=lifts, waiting_for="a usage limit to lift"), order, "claude", lifts)
    assert moved is not None
    assert (moved.runtime, moved.held, moved.waiting_until) == ("codex", {"claude": lifts}, None)
    assert choose(moved, order).runtime == "codex"  # claude still held
    lifted = iso_at(time.time() - 1)
    back = choose(replace(moved, held={"claude": lifted}), order)
    assert (back.runtime, back.held) == ("claude", {})


def test_with_every_runtime_held_there_is_nowhere_to_go() -> None:
    order = ("claude", "codex")
    record = replace(choose(LOOP, order), held={"codex": HARD})
    assert move_on(record, order, "claude", iso_at(time.time() + 3600)) is None
    assert move_on(choose(LOOP, ("claude",)), ("claude",), "claude", UNUSABLE) is None
    assert move_on(choose(LOOP, order), order, "aider", UNUSABLE) is None  # not one of the loop's
    unusable = move_on(choose(LOOP, order), order, "claude", UNUSABLE)
    assert unusable is not None and unusable.runtime == "codex"
    assert choose(unusable, order).runtime == "codex"  # an unusable runtime is never taken back


def limited(**fields: Any) -> Session:
    base: dict[str, Any] = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 2,
        "started_at": "2026-11-20T10:00:00.000Z",
        "ended_reason": "usage-limit",
    }
    return Session(**{**base, **fields})


def test_fall_back_after_a_session_moves_on_only_when_waiting_would_take_longer() -> None:
    order = ("claude", "codex")
    record = choose(LOOP, order)
    five_hours = iso_at(time.time() + 5 * 3600)
    moved, said = fall_back(record, limited(resume_at=five_hours), order, 15 * 60)
    assert (moved.runtime, moved.held, said) == (
        "codex",
        {"claude": five_hours},
        f"loop: claude is held by a usage limit until {five_hours}; the next session runs on codex",
    )
    soon = iso_at(time.time() + 60)
    assert fall_back(record, limited(resume_at=soon), order, 15 * 60) == (record, None)
    assert fall_back(record, limited(resume_at=five_hours), order, None) == (record, None)  # none: always wait
    wall, said = fall_back(record, limited(limit="hard"), order, None)
    assert (wall.held, said) == (
        {"claude": HARD},
        "loop: claude hit a usage limit that no wait lifts; the next session runs on codex",
    )
    unusable, _ = fall_back(record, limited(ended_reason="failed", unusable="Not logged in"), order, 15 * 60)
    assert unusable.held == {"claude": UNUSABLE}
    assert fall_back(record, limited(ended_reason="completed"), order, 0) == (record, None)


def test_a_new_loop_moves_on_from_the_wait_the_last_session_left() -> None:
    order = ("claude", "codex")
    five_hours = iso_at(time.time() + 5 * 3600)
    waiting = replace(LOOP, waiting_until=five_hours, waiting_for="a usage limit to lift")
    moved = at_start(waiting, limited(resume_at=five_hours), order, 15 * 60)
    assert (moved.runtime, moved.waiting_until) == ("codex", None)
    assert at_start(waiting, limited(resume_at=five_hours), (), 15 * 60) == waiting
    assert at_start(waiting, None, order, 15 * 60) == waiting
