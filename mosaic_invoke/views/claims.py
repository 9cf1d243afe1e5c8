"""Other hosts' claims, for `status` and the report (SPEC 16): host, task, age, stale or not.

`status` reads the claims from the remote as it runs (one try, no retries: a status never
waits on a network), and takes staleness from what this host's loop saw at its polls
(``claims.json``): a claim is judged by how long *this host* has seen its value unchanged. When
the remote does not answer, the loop's last poll is shown, saying when it was.
"""

from __future__ import annotations

import time
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.remote.board import read_board, space_of
from mosaic_invoke.remote.claims import read_claims
from mosaic_invoke.remote.transport import Patience
from mosaic_invoke.store.clock import format_span, now_iso, parse_iso
from mosaic_invoke.store.liveness import hostname

STATUS_ANSWER = 15.0
"""Seconds `status` waits for the remote before it shows the last poll instead."""


SHOWN = ("task_id", "host", "lane", "session_id", "started_at", "heartbeat", "checkout", "commit")
"""What `status --json` shows of each claim, with ``unchanged_for``, ``stale`` and ``age_seconds``."""


def claims_view(mission: Mission) -> dict[str, Any] | None:
    """``{remote, as_of, live, problem, claims: [...]}``, the other hosts' claims; None without `remote`."""
    if mission.remote is None:
        return None
    board = read_board(mission.orchestrator_path) or {}
    polled = {entry.get("task_id"): entry for entry in board.get("claims") or () if isinstance(entry, dict)}
    problem = None
    entries: list[dict[str, Any]] = []
    try:
        found = read_claims(space_of(mission), Patience(total=0.0, answer=STATUS_ANSWER), lambda _: None)
    except CoordError as error:
        problem = error.problems[0]
        entries = [entry for entry in polled.values() if not entry.get("mine")]
        as_of = board.get("polled_at")
    else:
        for task_id, claim in found.items():
            if claim.host == hostname() and claim.checkout == str(mission.root):
                continue  # this clone's own: its lanes show them
            seen = polled.get(task_id) or {}
            same = seen.get("commit") == claim.commit  # the value this host's loop has watched
            fields = {**claim.to_dict(), "commit": claim.commit}
            entries.append(
                {
                    **fields,
                    "unchanged_for": seen.get("unchanged_for") if same else None,
                    "stale": same and seen.get("stale") is True,
                }
            )
        as_of = now_iso()
    claims = [
        {
            **{key: entry.get(key) for key in SHOWN},
            "unchanged_for": entry.get("unchanged_for"),
            "stale": entry.get("stale") is True,
            "age_seconds": _age(entry.get("started_at")),
        }
        for entry in entries
    ]
    return {
        "remote": mission.remote.name,
        "as_of": as_of,
        "live": problem is None,
        "problem": problem,
        "claims": sorted(claims, key=lambda entry: str(entry.get("task_id"))),
    }


def claims_lines(view: dict[str, Any]) -> list[str]:
    """``claims`` lines of `status`: one per other host's claim."""
    claims = view["claims"]
    where = f"remote {view['remote']}"
    if not view["live"]:
        where += f", as this host last saw them at {view['as_of'] or 'no poll yet'} ({view['problem']})"
    if not claims:
        return [f"claims   none by other hosts ({where})"]
    lines = [f"claims   by other hosts ({where})"]
    width = max(len(str(entry["task_id"])) for entry in claims)
    for entry in claims:
        who = entry.get("host") or "an unknown host"
        if entry.get("lane") is not None:
            who += f" lane {entry['lane']}"
        if entry.get("session_id"):
            who += f" {entry['session_id']}"
        age = entry.get("age_seconds")
        since = f"since {entry.get('started_at') or '?'}" + (f" ({format_span(age)})" if age is not None else "")
        state = "stale: may be taken over" if entry.get("stale") else "held"
        unchanged = entry.get("unchanged_for")
        if unchanged is not None:
            state += f", unchanged for {format_span(unchanged)} here"
        lines.append(f"  {entry['task_id']:<{width}}  {who}, {since}, {state}")
    return lines


def _age(started_at: Any) -> float | None:
    """Seconds since the claim was made, by this host's clock against the claimer's (skew shows here)."""
    moment = parse_iso(started_at) if isinstance(started_at, str) else None
    return round(max(0.0, time.time() - moment.timestamp()), 1) if moment else None
