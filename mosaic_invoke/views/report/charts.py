"""The report page's charts as geometry: the session timeline and tasks done over time.

Coordinates are in a fixed box (`WIDTH` wide) that the page stretches to its width; long
histories are summarised so that the page stays small: at most `MAX_COLUMNS` timeline
columns and one step of the tasks-done line per unit of width.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mosaic_invoke.store.clock import parse_iso
from mosaic_invoke.views.report.rows import column, text

WIDTH = 1000
STRIP_HEIGHT = 24
CHART_HEIGHT = 160
MAX_COLUMNS = 120


@dataclass(frozen=True)
class Segment:
    category: str
    y: float
    height: float


@dataclass(frozen=True)
class Column:
    """One session, or a run of consecutive sessions stacked by category."""

    x: float
    width: float
    title: str
    endings: Sequence[Segment]
    verdicts: Sequence[Segment]


@dataclass(frozen=True, kw_only=True)
class Timeline:
    columns: Sequence[Column]
    per_column: int
    """Sessions in each column (the last may hold fewer)."""
    first: str | None
    last: str | None
    first_started: str | None
    last_started: str | None


@dataclass(frozen=True, kw_only=True)
class Cumulative:
    """Distinct tasks recorded done by sessions, over time, as a step line."""

    line: str | None
    """The SVG path (None: no session recorded the tasks it finished)."""
    area: str | None
    total: int
    start: str | None
    end: str | None
    known: int
    """Ended sessions that recorded `tasks_done`."""
    unknown: int
    """Ended sessions without it (recorded before coord kept it): what they finished is not shown."""
    unknown_first: str | None
    unknown_last: str | None


def timeline(records: Sequence[Mapping[str, Any]], kinds: Sequence[tuple[str, str]], order: Sequence[str]) -> Timeline:
    """Columns of sessions in order; ``kinds`` holds each session's (ending, verdict), stacked
    from the bottom in ``order`` (every ending and verdict)."""
    rank = {category: index for index, category in enumerate(order)}
    count = len(records)
    per_column = -(-count // MAX_COLUMNS) if count else 1
    columns_count = -(-count // per_column) if count else 0
    step = WIDTH / columns_count if columns_count else WIDTH
    gap = min(2.0, step * 0.2) if columns_count > 1 else 0.0
    columns = []
    for index in range(columns_count):
        group = records[index * per_column : (index + 1) * per_column]
        group_kinds = kinds[index * per_column : (index + 1) * per_column]
        endings = Counter(end for end, _ in group_kinds)
        verdicts = Counter(verdict for _, verdict in group_kinds)
        columns.append(
            Column(
                x=round(index * step, 2),
                width=round(step - gap, 2),
                title=_title(group, group_kinds, endings, verdicts),
                endings=_stack(endings, len(group), rank),
                verdicts=_stack(verdicts, len(group), rank),
            )
        )
    return Timeline(
        columns=columns,
        per_column=per_column,
        first=str(records[0].get("session_id")) if records else None,
        last=str(records[-1].get("session_id")) if records else None,
        first_started=text(records[0].get("started_at")) if records else None,
        last_started=text(records[-1].get("started_at")) if records else None,
    )


def cumulative(records: Sequence[Mapping[str, Any]]) -> Cumulative:
    """Tasks done over time, from each ended session's ``tasks_done`` and ``ended_at``: a claim
    that was rejected or left unchecked (and reopened) counts none."""
    start = next((moment for r in records if (moment := _moment(r.get("started_at"))) is not None), None)
    finished: list[tuple[datetime, list[Any]]] = []
    unknown: list[str] = []
    ids, ends, dones, verdicts = (
        column(records, field) for field in ("session_id", "ended_at", "tasks_done", "verdict")
    )
    for session_id, ended_at, done, verdict in zip(ids, ends, dones, verdicts, strict=True):
        if ended_at is None:
            continue
        if verdict in ("rejected", "none"):
            done = []
        if isinstance(done, list) and (ended := _moment(ended_at)) is not None:
            finished.append((ended, done))
        else:
            unknown.append(str(session_id))
    finished.sort(key=lambda item: item[0])
    seen: set[str] = set()
    steps: list[tuple[datetime, int]] = []
    for ended, done in finished:
        seen.update(task for task in done if isinstance(task, str))
        steps.append((ended, len(seen)))
    line = area = None
    if steps and start is not None:
        start = min(start, steps[0][0])
        line, area = _step_path(start, steps)
    return Cumulative(
        line=line,
        area=area,
        total=len(seen),
        start=start.isoformat() if start and steps else None,
        end=steps[-1][0].isoformat() if steps else None,
        known=len(finished),
        unknown=len(unknown),
        unknown_first=unknown[0] if unknown else None,
        unknown_last=unknown[-1] if unknown else None,
    )


def _step_path(start: datetime, steps: list[tuple[datetime, int]]) -> tuple[str, str]:
    """A rising step line from 0 at ``start``, one step per unit of width at most."""
    span = (steps[-1][0] - start).total_seconds() or 1.0
    top = steps[-1][1] or 1
    height = CHART_HEIGHT - 8  # room for the stroke at the top
    by_x: dict[int, int] = {}
    for moment, total in steps:
        by_x[round((moment - start).total_seconds() / span * WIDTH)] = total  # the last at each x
    parts = [f"M0 {CHART_HEIGHT}"]
    for x, total in by_x.items():
        parts.append(f"H{x}V{round(CHART_HEIGHT - total / top * height, 1)}")
    line = "".join(parts) + f"H{WIDTH}"
    return line, line + f"V{CHART_HEIGHT}H0Z"


def _stack(counts: Counter[str], size: int, rank: Mapping[str, int]) -> list[Segment]:
    """Segments sized by their share, stacked from the bottom in the order of ``rank``."""
    segments = []
    y = float(STRIP_HEIGHT)
    for category, n in sorted(counts.items(), key=lambda item: rank.get(item[0], len(rank))):
        height = n / size * STRIP_HEIGHT
        y -= height
        segments.append(Segment(category, round(y, 2), round(height, 2)))
    return segments


def _title(
    group: Sequence[Mapping[str, Any]], kinds: Sequence[tuple[str, str]], endings: Counter[str], verdicts: Counter[str]
) -> str:
    first = group[0]
    if len(group) == 1:
        end, verdict = kinds[0]
        task = f", task {first['task_id']}" if first.get("task_id") else ""
        return f"{first.get('session_id')}: {end}, verdict {verdict}{task}"
    span = f"{first.get('session_id')} to {group[-1].get('session_id')} ({len(group)} sessions)"
    ended = ", ".join(f"{n} {name}" for name, n in endings.most_common())
    judged = ", ".join(f"{n} {name}" for name, n in verdicts.most_common())
    return f"{span}: {ended}; verdicts: {judged}"


def _moment(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None
