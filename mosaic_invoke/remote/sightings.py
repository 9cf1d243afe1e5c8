"""Whether another host's claim is stale: how long this host has seen its value unchanged.

The claim's own times are the claiming host's clock; a claim is judged by the observer's clock
alone (monotonic, so a clock set back or forward changes nothing), from the first poll that
saw its current value. A host that restarts starts that clock anew: it waits a whole
``claim_ttl`` before it takes a claim over, whatever it saw before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mosaic_invoke.remote.claim import Claim


@dataclass(frozen=True)
class Sighting:
    """A claim as this host saw it: for how long its value has not changed."""

    claim: Claim
    unchanged_for: float
    """Seconds since this host first saw the claim's current value."""
    stale: bool
    """Not renewed for ``claim_ttl`` by this host's clock: another host may take it over."""


class Sightings:
    """The claims of the mission seen over successive polls (one per observing process)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._first_seen: dict[str, tuple[str, float]] = {}
        """Task id -> (the claim's value, when this host first saw it)."""
        self._claims: dict[str, Claim] = {}

    def note(self, claims: Mapping[str, Claim]) -> None:
        """What one poll found: a value seen before keeps its clock, a new one starts it, a
        claim gone is forgotten."""
        now = self._clock()
        first_seen: dict[str, tuple[str, float]] = {}
        for task_id, found in claims.items():
            before = self._first_seen.get(task_id)
            first_seen[task_id] = before if before is not None and before[0] == found.commit else (found.commit, now)
        self._first_seen = first_seen
        self._claims = dict(claims)

    def sighting(self, task_id: str) -> Sighting | None:
        found = self._claims.get(task_id)
        if found is None:
            return None
        unchanged = max(0.0, self._clock() - self._first_seen[task_id][1])
        return Sighting(found, unchanged, unchanged >= self.ttl)

    def all(self) -> list[Sighting]:
        return [seen for task_id in sorted(self._claims) if (seen := self.sighting(task_id)) is not None]

    def stale(self, task_id: str) -> bool:
        seen = self.sighting(task_id)
        return seen is not None and seen.stale
