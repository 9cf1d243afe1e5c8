"""A session record as state.json keeps it, and the totals kept over all of them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mosaic_invoke.store.clock import now_iso, seconds_between
from mosaic_invoke.store.records import present_fields

ENDED_REASONS = ("completed", "failed", "interrupted", "crashed", "timeout", "usage-limit")
VERDICTS = ("accepted", "rejected", "unfinished", "none")


@dataclass(frozen=True, kw_only=True)
class Session:
    """One agent session, as state.json records it (SPEC sections 3, 12 and 13)."""

    session_id: str
    runtime: str
    pid: int
    pid_started_at: int | None = None
    host: str | None = None
    started_at: str
    ended_at: str | None = None
    ended_reason: str | None = None
    exit_code: int | None = None
    duration_seconds: int | None = None
    milestone_id: str | None = None
    task_id: str | None = None
    log_path: str | None = None
    output: str | None = None
    """How the agent's output reads (text, claude-stream-json, codex-json): how to show its log."""
    loop_id: str | None = None
    lane: int | None = None
    """The loop's lane it ran in (SPEC 15), with ``--lanes`` 2 or more."""
    worktree: str | None = None
    """The lane's git worktree, where its agent worked."""
    owner_pid: int | None = None
    """The process that follows the lane's agent and records its end (its supervisor)."""
    owner_started_at: int | None = None
    # What the harness found after the session (section 12).
    task_status_after: str | None = None
    tasks_done: list[str] | None = None
    tasks_changed: list[str] | None = None
    """Other tasks whose status the session changed (and kept: not set back)."""
    tasks_restored: list[str] | None = None
    """Other tasks' rows the session set to done or cancelled, set back: it claims only its own."""
    git: Mapping[str, Any] | None = None
    verification: Mapping[str, Any] | None = None
    verdict: str | None = None
    rejected_because: str | None = None
    landed: Mapping[str, Any] | None = None
    """A lane's landing: ``{"commit", "previous", "rebases", "branch"}`` of the mission's branch."""
    claim_lost: str | None = None
    """Another host took the session's claim on its task over (SPEC 16): who, and since when."""
    review: Mapping[str, Any] | None = None
    """What the reviewer agent said (section 17): runtime, verdict, reasons, log_path, cost_usd."""
    # What the agent reported (section 13).
    agent_session_id: str | None = None
    resumed_agent_session: str | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    num_turns: int | None = None
    result_subtype: str | None = None
    is_error: bool | None = None
    final_message: str | None = None
    resume_at: str | None = None
    transient: bool | None = None
    limit: str | None = None
    """`hard` for a usage wall that no wait lifts (an admin-disabled allocation, a monthly cap)."""
    unusable: str | None = None
    """Why the agent cannot work here at all, in its words (not logged in): no session can succeed."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields written by a newer version: kept as they are."""

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def ended(self, reason: str, exit_code: int | None = None, *, ended_at: str | None = None, **found: Any) -> Session:
        """This session ended at ``ended_at`` (default: now), for ``reason``, its duration counted from its start."""
        ended_at = ended_at or now_iso()
        return replace(
            self,
            ended_at=ended_at,
            ended_reason=reason,
            exit_code=exit_code,
            duration_seconds=seconds_between(self.started_at, ended_at),
        ).with_fields(**found)

    def with_fields(self, **values: Any) -> Session:
        """This session with ``values`` set: known fields in place, others kept as extra fields."""
        known = {name: value for name, value in values.items() if name in _FIELD_NAMES}
        extra = {name: value for name, value in values.items() if name not in _FIELD_NAMES}
        return replace(self, **known, extra={**self.extra, **extra}) if extra else replace(self, **known)

    @property
    def spent_usd(self) -> float:
        """What the session cost, its reviewer included (where the runtimes report it)."""
        return _spent(self.cost_usd) + _spent((self.review or {}).get("cost_usd"))

    def to_dict(self) -> dict[str, Any]:
        return {**present_fields(self), **self.extra}


_FIELD_NAMES = frozenset(field.name for field in fields(Session)) - {"extra"}

EMPTY_SUMMARY: Mapping[str, Any] = {
    "sessions": 0,
    "next_session": 1,
    "cost_usd": 0.0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "by_milestone": {},
}
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens")


def summarise(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals over ``records``, from nothing (one pass over thousands of records)."""
    totals = _Totals()
    count = highest = 0
    for record in records:
        count += 1
        highest = max(highest, _number(record))
        totals.add(record, 1)
    return totals.summary({"sessions": count, "next_session": max(count, highest) + 1})


def with_record(summary: Mapping[str, Any], old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """``summary`` with the record ``old`` (None: a new session) replaced by ``new``."""
    count, following = int(summary["sessions"]), int(summary["next_session"])
    if old is None:
        count += 1
        following = max(following, count + 1, _number(new) + 1)
    totals = _Totals.of(summary)
    if old is not None:
        totals.add(old, -1)
    totals.add(new, 1)
    return totals.summary({"sessions": count, "next_session": following})


class _Totals:
    """Cost (in whole micro-dollars, so that any order of changes gives the same total) and
    tokens, over records added and taken away."""

    def __init__(self) -> None:
        self.micros = 0
        self.by_milestone: dict[str, int] = {}
        self.tokens = dict.fromkeys(_TOKENS, 0)

    @classmethod
    def of(cls, summary: Mapping[str, Any]) -> _Totals:
        totals = cls()
        totals.micros = _micros(summary["cost_usd"])
        totals.by_milestone = {key: _micros(value) for key, value in (summary.get("by_milestone") or {}).items()}
        totals.tokens = {key: int(summary[key]) for key in _TOKENS}
        return totals

    def add(self, record: Mapping[str, Any], sign: int) -> None:
        review = record.get("review")
        # A reviewer's cost and tokens are the session's too: they count toward the caps.
        for source in (record, review) if isinstance(review, Mapping) else (record,):
            cost = source.get("cost_usd")
            if cost is not None and type(cost) in (int, float):
                spent = sign * _micros(cost)
                self.micros += spent
                milestone = record.get("milestone_id")
                if isinstance(milestone, str):
                    self.by_milestone[milestone] = self.by_milestone.get(milestone, 0) + spent
            for key in _TOKENS:
                value = source.get(key)
                if value is not None and type(value) is int:
                    self.tokens[key] += sign * value

    def summary(self, counts: Mapping[str, int]) -> dict[str, Any]:
        return {
            **counts,
            "cost_usd": self.micros / 1e6,
            **self.tokens,
            "by_milestone": {key: value / 1e6 for key, value in sorted(self.by_milestone.items()) if value},
        }


def _number(record: Mapping[str, Any]) -> int:
    """The number of a ``sess-NNN`` id (0 for any other id)."""
    suffix = str(record.get("session_id", "")).removeprefix("sess-")
    return int(suffix) if suffix.isdigit() else 0


def _spent(cost: object) -> float:
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        return 0.0
    return float(cost) if math.isfinite(cost) else 0.0


def _micros(usd: float) -> int:
    """Whole micro-dollars; 0 for what is no amount (infinity, not a number)."""
    return round(usd * 1_000_000) if math.isfinite(usd) else 0
