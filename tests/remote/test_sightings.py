"""Staleness by the observing host's own clock."""

from __future__ import annotations

from mosaic_invoke.remote.claim import Claim
from mosaic_invoke.remote.sightings import Sightings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(**values: str) -> dict[str, Claim]:
    return {task: Claim(task, commit, host="elsewhere") for task, commit in values.items()}


def test_a_value_unchanged_for_the_ttl_is_stale_whatever_the_claim_says_of_its_times() -> None:
    clock = Clock()
    seen = Sightings(ttl=600.0, clock=clock)
    seen.note({"T-1": Claim("T-1", "aaa", heartbeat="2999-01-01T00:00:00.000Z")})  # a clock far ahead
    clock.now += 599.0
    seen.note(claims(**{"T-1": "aaa"}))
    assert not seen.stale("T-1")
    clock.now += 1.0
    found = seen.sighting("T-1")
    assert found is not None and found.stale and found.unchanged_for == 600.0


def test_a_renewed_claim_starts_the_clock_again_and_a_gone_one_is_forgotten() -> None:
    clock = Clock()
    seen = Sightings(ttl=10.0, clock=clock)
    seen.note(claims(**{"T-1": "aaa", "T-2": "bbb"}))
    clock.now += 9.0
    seen.note(claims(**{"T-1": "aaa-renewed", "T-2": "bbb"}))
    clock.now += 2.0
    assert not seen.stale("T-1") and seen.stale("T-2")
    seen.note(claims(**{"T-1": "aaa-renewed"}))
    assert seen.sighting("T-2") is None and not seen.stale("T-2")
    seen.note(claims(**{"T-1": "aaa-renewed", "T-2": "bbb"}))  # back with the same value: seen anew
    assert not seen.stale("T-2")
    assert [found.claim.task_id for found in seen.all()] == ["T-1", "T-2"]


def test_a_restarted_host_starts_the_clock_anew() -> None:
    clock = Clock()
    before = Sightings(ttl=10.0, clock=clock)
    before.note(claims(**{"T-1": "aaa"}))
    clock.now += 11.0
    assert before.stale("T-1")
    after = Sightings(ttl=10.0, clock=clock)
    after.note(claims(**{"T-1": "aaa"}))
    assert not after.stale("T-1")
