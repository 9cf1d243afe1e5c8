"""The report page's rows: a session or a loop as the page lists it, from its record as read.

Every field beyond a record's identity is optional, and a field of the wrong type (a hand
edit) counts as absent: missions recorded by older versions show less, never an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import methodcaller
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mosaic_invoke.config.caps import shown_cap
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.store.clock import format_duration, seconds_between
from mosaic_invoke.store.session import ENDED_REASONS
from mosaic_invoke.store.session import VERDICTS as SESSION_VERDICTS
from mosaic_invoke.tasks.tasksfile import TasksFile

KNOWN_ENDINGS = ENDED_REASONS
ENDINGS = (*KNOWN_ENDINGS, "running", "other")
VERDICTS = (*SESSION_VERDICTS, "unknown")
"""`unknown`: no verdict recorded (sessions from before verification, or still running)."""
_JUDGED = VERDICTS[:-1]


@dataclass(frozen=True, kw_only=True)
class SessionRow:
    """A session as the table shows it; None where the record has nothing."""

    session_id: str
    runtime: str
    task_id: str | None
    task_description: str | None
    started_at: str | None
    duration: str
    ending: str
    ended_reason: str | None
    verdict: str
    rejected_because: str | None
    cost_usd: float | None
    tokens: int | None
    final_message: str | None
    log_href: str | None
    verification_href: str | None
    verification_passed: bool | None
    lane: int | None = None
    """The loop's lane it ran in (`loop --lanes`)."""


@dataclass(frozen=True, kw_only=True)
class LoopRow:
    loop_id: str
    pid: int | None
    host: str | None
    started_at: str | None
    ended_at: str | None
    stop_reason: str | None
    sessions: int | None
    caps: Sequence[tuple[str, str]]
    waiting_until: str | None
    """While the loop waits for a usage limit to reset."""
    session_id: str | None
    """The session a running loop runs now, if any (with its task and start)."""
    task_id: str | None
    session_started: str | None
    lanes: Sequence[tuple[int, str, str, str | None]] = ()
    """The lanes at work: (lane, session, task, since)."""


@dataclass(frozen=True, kw_only=True)
class ClaimRow:
    """Another host's claim on a task (SPEC 16), as this host last polled the remote."""

    task_id: str
    host: str
    lane: int | None
    session_id: str | None
    started_at: str | None
    age_seconds: int | None
    """From its start to the page's making (the claiming host's clock against this one's)."""
    stale: bool
    """Not renewed for `claim_ttl` by this host's clock: another host may take it over."""


def claim_rows(board: Mapping[str, Any] | None, generated_at: str) -> list[ClaimRow]:
    """The other hosts' claims in ``claims.json``, by task; what does not read is left out."""
    rows = []
    for entry in (board or {}).get("claims") or ():
        if not isinstance(entry, Mapping) or entry.get("mine") or not text(entry.get("task_id")):
            continue
        started = text(entry.get("started_at"))
        rows.append(
            ClaimRow(
                task_id=str(entry["task_id"]),
                host=text(entry.get("host")) or "an unknown host",
                lane=whole(entry.get("lane")),
                session_id=text(entry.get("session_id")),
                started_at=started,
                age_seconds=seconds_between(started, generated_at) if started else None,
                stale=entry.get("stale") is True,
            )
        )
    return sorted(rows, key=lambda row: row.task_id)


def ending(record: Mapping[str, Any]) -> str:
    """How a session ended, as the page groups it: one of `ENDINGS`."""
    return endings([record])[0]


def verdict(record: Mapping[str, Any]) -> str:
    """The session's verdict: one of `VERDICTS`."""
    return verdicts([record])[0]


def endings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """`ending` of each record, a column at a time (a mission has thousands)."""
    ends, reasons = column(records, "ended_at"), column(records, "ended_reason")
    return [
        "running" if end is None else reason if reason in KNOWN_ENDINGS else "other"
        for end, reason in zip(ends, reasons, strict=True)
    ]


def verdicts(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """`verdict` of each record, a column at a time."""
    return [value if value in _JUDGED else "unknown" for value in column(records, "verdict")]


def column(records: Sequence[Mapping[str, Any]], field: str) -> list[Any]:
    """Each record's ``field`` (None where it has none), read in C."""
    return list(map(methodcaller("get", field), records))


def task_description(tasks: TasksFile, key: str) -> str:
    if not key:
        return "no task"
    task = tasks.task(key)
    return task.description if task else ""


def session_row(record: Mapping[str, Any], tasks: TasksFile, mission: Mission, page_dir: Path) -> SessionRow:
    task_id = text(record.get("task_id"))
    verification = record.get("verification")
    checked = verification if isinstance(verification, Mapping) else {}
    tokens = [number(record.get(key)) for key in ("input_tokens", "output_tokens", "cache_read_tokens")]
    duration = number(record.get("duration_seconds"))
    passed = checked.get("passed")
    return SessionRow(
        session_id=str(record.get("session_id", "")),
        runtime=str(record.get("runtime", "")),
        task_id=task_id,
        task_description=task_description(tasks, task_id) or None if task_id else None,
        started_at=text(record.get("started_at")),
        duration=format_duration(None if duration is None else int(duration)),
        ending=ending(record),
        ended_reason=text(record.get("ended_reason")),
        verdict=verdict(record),
        rejected_because=text(record.get("rejected_because")),
        cost_usd=number(record.get("cost_usd")),
        tokens=None if all(t is None for t in tokens) else int(sum(t or 0 for t in tokens)),
        final_message=text(record.get("final_message")),
        log_href=_href(record.get("log_path"), mission, page_dir),
        verification_href=_href(checked.get("log_path"), mission, page_dir),
        verification_passed=passed if isinstance(passed, bool) else None,
        lane=whole(record.get("lane")),
    )


def _href(value: Any, mission: Mission, page_dir: Path) -> str | None:
    """A link to a log, relative to the page's folder; a relative log path is in the orchestrator folder."""
    if not isinstance(value, str) or not value:
        return None
    path = mission.orchestrator_path / value
    try:
        relative = os.path.relpath(path, page_dir)
    except ValueError:
        relative = str(path)
    return quote(Path(relative).as_posix())


def loop_row(loop: Mapping[str, Any], live: Mapping[str, Any] | None) -> LoopRow:
    """A loop record (loop.json, or a past loop's summary), tolerating any missing key."""
    caps = loop.get("caps")
    sessions = loop.get("sessions")
    ended_at = text(loop.get("ended_at"))
    live = live if live is not None and not ended_at else {}
    return LoopRow(
        loop_id=text(loop.get("loop_id")) or "loop",
        pid=whole(loop.get("pid")),
        host=text(loop.get("host")),
        started_at=text(loop.get("started_at")),
        ended_at=ended_at,
        stop_reason=text(loop.get("stop_reason")),
        sessions=len(sessions) if isinstance(sessions, list) else whole(sessions),
        caps=[(str(k), shown_cap(str(k), v)) for k, v in caps.items() if v is not None]
        if isinstance(caps, Mapping)
        else [],
        waiting_until=None if ended_at else text(loop.get("waiting_until")),
        session_id=text(live.get("session_id")),
        task_id=text(live.get("task_id")),
        session_started=text(live.get("started_at")),
        lanes=_lanes(loop.get("lanes")) if not ended_at else (),
    )


def _lanes(value: Any) -> list[tuple[int, str, str, str | None]]:
    """A running loop's lanes, as loop.json lists them; what does not read is left out."""
    found = []
    for lane in value if isinstance(value, list) else ():
        if isinstance(lane, Mapping) and whole(lane.get("lane")) is not None:
            number = whole(lane.get("lane")) or 0
            found.append(
                (number, str(lane.get("session_id", "")), str(lane.get("task_id", "")), text(lane.get("started_at")))
            )
    return found


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: Any) -> float | None:
    """A count or an amount a runtime reported; None for anything else (a hand edit, a negative,
    NaN or Infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if 0 <= value < math.inf else None


def numbers(values: Iterable[Any]) -> list[float | None]:
    """`number` of each value; in one comprehension, for columns of thousands."""
    return [v if (type(v) is int or type(v) is float) and 0 <= v < math.inf else None for v in values]
