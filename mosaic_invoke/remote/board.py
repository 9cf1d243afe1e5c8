"""One host's view of the mission on the shared remote: the branch as fetched, every claim as
polled, which of them are stale by this host's clock, and the claims it makes (SPEC 16).

A loop (or `run`) keeps one board: it polls the remote before it chooses, never more often than
it needs (`Board.due`), and writes what it saw to ``claims.json`` for `status` and the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.remote import RemoteConfig
from mosaic_invoke.errors import CoordError
from mosaic_invoke.remote.branch import fetch_branch, tracking_ref
from mosaic_invoke.remote.claim import Claim, ClaimSpace, Taken, claim_space
from mosaic_invoke.remote.claims import claim, read_claims, release, take_over
from mosaic_invoke.remote.sightings import Sighting, Sightings
from mosaic_invoke.remote.transport import Patience, Report, local_git
from mosaic_invoke.store.clock import now_iso, parse_iso
from mosaic_invoke.store.files import display_path, write_json_atomic
from mosaic_invoke.store.liveness import hostname

CLAIMS_FILE = "claims.json"
POLL_CEILING = 10.0
"""A waiting host polls the remote every ``claim_ttl / 3``, and at least this often (seconds)."""


@dataclass(frozen=True)
class Seen:
    """A claim on the board, as `status` shows it."""

    sighting: Sighting
    mine: bool
    """Made from this clone (its own lanes), not another host's."""


def remote_of(mission: Mission) -> RemoteConfig:
    if mission.remote is None:  # callers check first: nothing of this runs without `remote`
        msg = f"{display_path(mission.config_path)}: no `remote` set"
        raise CoordError(msg)
    return mission.remote


def space_of(mission: Mission) -> ClaimSpace:
    """The mission's claims, seen from its main checkout (every claim of this clone names it)."""
    config = remote_of(mission)
    return claim_space(mission.root, config.name, config.claims_ref, mission.id)


def patience_of(mission: Mission, stop: Callable[[], bool] | None = None) -> Patience:
    """How long a host keeps trying a remote that does not answer: a whole ``claim_ttl`` (by then
    its claims are another host's to take), at least a minute."""
    return Patience(total=max(60.0, remote_of(mission).claim_ttl), stop=stop)


def check_remote(mission: Mission) -> None:
    """Refuse, before anything starts, a `remote` this clone does not have."""
    config = remote_of(mission)
    try:
        local_git(mission.root, "remote", "get-url", config.name)
    except CoordError:
        where = f"{display_path(mission.config_path)}:{mission.lines.get('remote', 1)}"
        msg = (
            f"{where}: `remote`: this clone has no git remote `{config.name}`; "
            f"add it with `git remote add {config.name} <url>`, or name one of `git remote`"
        )
        raise CoordError(msg) from None


class Board:
    """The remote as this host last saw it."""

    def __init__(self, mission: Mission, branch: str, report: Report, patience: Patience | None = None) -> None:
        self.mission = mission
        self.config = remote_of(mission)
        self.space = space_of(mission)
        self.branch = branch
        self.report = report
        self.patience = patience or patience_of(mission)
        self.sightings = Sightings(self.config.claim_ttl)
        self.polled_at: float | None = None
        self.head: str | None = None
        """The remote branch's commit as last fetched."""

    @property
    def every(self) -> float:
        """Seconds between polls while waiting: ``claim_ttl / 3``, at most 10."""
        return min(self.config.heartbeat, POLL_CEILING)

    def due(self) -> bool:
        return self.polled_at is None or time.monotonic() - self.polled_at >= self.every

    def poll(self) -> None:
        """Fetch the branch and read every claim (the remote's faults retried, then raised)."""
        self.fetch()
        self.sightings.note(read_claims(self.space, self.patience, self.report))
        self.polled_at = time.monotonic()
        self._write()

    def fetch(self) -> None:
        """Fetch the branch alone (a host that won a claim checks the task is not done there)."""
        self.head = fetch_branch(self.space.remote, self.branch, self.patience, self.report)
        if self.head is None:
            msg = (
                f"{display_path(self.mission.root)}: remote `{self.config.name}` has no branch `{self.branch}`; "
                f"push it first: `git push {self.config.name} {self.branch}`"
            )
            raise CoordError(msg)

    @property
    def base_ref(self) -> str:
        """The ref lanes start from and landing expects: the remote branch as fetched."""
        return tracking_ref(self.space.remote, self.branch)

    def seen(self) -> list[Seen]:
        return [Seen(found, self.mine(found.claim)) for found in self.sightings.all()]

    def mine(self, found: Claim) -> bool:
        return found.host == hostname() and found.checkout == str(self.space.remote.repo)

    def held_elsewhere(self) -> set[str]:
        """Tasks another host (or clone) holds a claim on that is not stale."""
        return {seen.sighting.claim.task_id for seen in self.seen() if not seen.mine and not seen.sighting.stale}

    def claimed(self) -> set[str]:
        return {seen.sighting.claim.task_id for seen in self.seen()}

    def take(self, task_id: str, lane: int | None) -> Claim | Taken:
        """Claim ``task_id``: anew, or over a claim stale by this host's clock."""
        found = self.sightings.sighting(task_id)
        if found is not None and found.stale:
            got = take_over(self.space, found.claim, self.patience, self.report, lane=lane)
            if isinstance(got, Claim):
                who = found.claim.host or "an unknown host"
                self.report(
                    f"claim on {task_id} by {who} (session {found.claim.session_id or '?'}) not renewed for "
                    f"{found.unchanged_for:.0f}s: taken over"
                )
        else:
            got = claim(self.space, task_id, self.patience, self.report, lane=lane)
        if isinstance(got, Taken) and got.by is not None:
            self.sightings.note({**{s.claim.task_id: s.claim for s in self.sightings.all()}, task_id: got.by})
        return got

    def let_go(self, held: Claim) -> None:
        """Release a claim this host made and will not work under (the task was done already)."""
        release(self.space, held, self.patience, self.report)

    def release_leftovers(self, running: Iterable[str], ended: Iterable[str] = ()) -> list[str]:
        """Release this clone's claims that no session works under any more: the tasks released.

        A claim of this clone is left over when its task runs in none of ``running`` (this
        process's lanes) and either its session is one of ``ended`` (recorded here as ended: a
        lane killed with its supervisor) or it has gone unrenewed for two heartbeats by this
        host's own clock, the clock it was written with (a claim whose answer was lost, a
        process that died before its session began). A claim another process of this clone has
        just made, before its session is recorded, is left alone.
        """
        live, over = set(running), set(ended)
        released = []
        for seen in self.seen():
            found = seen.sighting.claim
            if not seen.mine or found.task_id in live:
                continue
            beat = parse_iso(found.heartbeat) if found.heartbeat else None
            quiet = beat is None or time.time() - beat.timestamp() > 2 * self.config.heartbeat
            if (found.session_id in over or quiet) and release(self.space, found, self.patience, self.report) is None:
                released.append(found.task_id)
        return released

    def _write(self) -> None:
        """``claims.json``: what this host saw at its last poll."""
        claims = [
            {
                **seen.sighting.claim.to_dict(),
                "commit": seen.sighting.claim.commit,
                "unchanged_for": round(seen.sighting.unchanged_for, 1),
                "stale": seen.sighting.stale,
                "mine": seen.mine,
            }
            for seen in self.seen()
        ]
        payload = {"remote": self.config.name, "branch": self.branch, "polled_at": now_iso(), "claims": claims}
        write_json_atomic(self.mission.orchestrator_path / CLAIMS_FILE, payload)


def read_board(orchestrator: Path) -> dict[str, Any] | None:
    """What this host's last poll saw (``claims.json``), or None."""
    try:
        found = json.loads((orchestrator / CLAIMS_FILE).read_bytes())
    except (OSError, ValueError):  # none yet, or cut short: the next poll writes it whole
        return None
    return found if isinstance(found, dict) else None
