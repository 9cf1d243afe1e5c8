"""The report page's data: a mission's tasks, sessions, cost and loops, summarised for people."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._mission import Mission
from ._report_charts import Cumulative, Timeline, cumulative, timeline
from ._report_rows import (
    ENDINGS,
    VERDICTS,
    LoopRow,
    SessionRow,
    ending,
    loop_row,
    number,
    session_row,
    task_description,
    verdict,
)
from ._selection import Counts, Progress, current_milestone, milestone_status
from ._state import State
from ._tasksfile import TasksFile, TaskStatus

RECENT_SESSIONS = 20
TASKS_LISTED = 15
PAST_LOOPS = 10
_USAGE = ("sessions", "costed", "cost_usd", "input_tokens", "output_tokens", "cache_read_tokens")


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Sessions and what their runtimes reported, summed (over a milestone, a task, all)."""

    key: str
    label: str = ""
    sessions: int = 0
    costed: int = 0
    """How many of the sessions reported a cost."""
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class MilestoneView:
    id: str
    name: str
    status: str
    current: bool
    total: int
    counts: Mapping[str, int]
    """Tasks per status (`TaskStatus` values), every status present."""


@dataclass(frozen=True, kw_only=True)
class Report:
    """Everything the page shows: the template's ``report``."""

    mission_id: str
    mission_name: str
    status: str
    branch: str | None
    project_path: str
    generated_at: str
    progress: Progress
    milestones: Sequence[MilestoneView]
    sessions: int
    endings: Mapping[str, int]
    verdicts: Mapping[str, int]
    done: Cumulative
    timeline: Timeline
    total: Usage
    by_milestone: Sequence[Usage]
    by_task: Sequence[Usage]
    other_tasks: Usage
    """The tasks with sessions beyond the `TASKS_LISTED` costliest, summed."""
    recent: Sequence[SessionRow]
    """The last sessions, newest first."""
    running: SessionRow | None
    loop: LoopRow | None
    past_loops: Sequence[LoopRow]
    warnings: Sequence[str]


def summarise(
    *,
    mission: Mission,
    tasks: TasksFile,
    state: State,
    loop: Mapping[str, Any] | None,
    branch: str | None,
    generated_at: str,
    page_dir: Path,
    warnings: Sequence[str] = (),
) -> Report:
    """The report of a mission; ``page_dir`` is the page's folder (log links are relative to it)."""
    records = list(state.records)
    counts = tasks.counts()
    progress = Progress.of(counts)
    finished = sum(n for (_, status), n in counts.items() if status in (TaskStatus.DONE, TaskStatus.CANCELLED))
    kinds = [(ending(record), verdict(record)) for record in records]
    endings = dict.fromkeys(ENDINGS, 0)
    verdicts = dict.fromkeys(VERDICTS, 0)
    for end, judged in kinds:
        endings[end] += 1
        verdicts[judged] += 1
    by_milestone, by_task = _usage(records)
    order = {m.id: index for index, m in enumerate(mission.milestones)}
    milestone_keys = sorted(by_milestone, key=lambda key: (order.get(key, len(order)), key == "", key))
    task_keys = sorted(by_task, key=lambda key: (-by_task[key][2], -by_task[key][0], key))
    live = records[-1] if records and records[-1].get("ended_at") is None else None
    past = state.extra.get("loops")
    past_loops = (
        [loop_row(item, None) for item in past[-PAST_LOOPS:] if isinstance(item, Mapping)]
        if isinstance(past, list)
        else []
    )
    return Report(
        mission_id=mission.id,
        mission_name=mission.name,
        status="completed" if progress.total and finished == progress.total else state.status,
        branch=branch,
        project_path=str(mission.root),
        generated_at=generated_at,
        progress=progress,
        milestones=_milestones(mission, counts),
        sessions=len(records),
        endings=endings,
        verdicts=verdicts,
        done=cumulative(records),
        timeline=timeline(records, kinds, (*ENDINGS, *VERDICTS)),
        total=_freeze("total", "", by_task.values()),
        by_milestone=[_freeze(key, _milestone_name(mission, key), [by_milestone[key]]) for key in milestone_keys],
        by_task=[_freeze(key, task_description(tasks, key), [by_task[key]]) for key in task_keys[:TASKS_LISTED]],
        other_tasks=_freeze("other", "", [by_task[key] for key in task_keys[TASKS_LISTED:]]),
        recent=[session_row(record, tasks, mission, page_dir) for record in reversed(records[-RECENT_SESSIONS:])],
        running=session_row(live, tasks, mission, page_dir) if live is not None else None,
        loop=loop_row(loop, live) if loop is not None else None,
        past_loops=list(reversed(past_loops)),
        warnings=list(warnings),
    )


def _milestones(mission: Mission, counts: Counts) -> list[MilestoneView]:
    current = current_milestone(mission, counts)
    views = []
    for milestone in mission.milestones:
        own = {status.value: counts.get((milestone.id, status), 0) for status in TaskStatus}
        status = milestone_status(milestone, counts).value
        views.append(_milestone(milestone.id, milestone.name, status, own, current=milestone is current))
    known = {m.id for m in mission.milestones}
    others = dict.fromkeys((status.value for status in TaskStatus), 0)
    for (milestone_id, task_status), n in counts.items():
        if milestone_id not in known:
            others[task_status.value] += n
    if any(others.values()):
        views.append(_milestone("—", "tasks outside the milestones of mission.yaml", "", others, current=False))
    return views


def _milestone(id: str, name: str, status: str, counts: dict[str, int], *, current: bool) -> MilestoneView:
    return MilestoneView(id=id, name=name, status=status, current=current, total=sum(counts.values()), counts=counts)


def _usage(records: Iterable[Mapping[str, Any]]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Summed usage (in `_USAGE` order) per milestone and per task ("": sessions without one)."""
    by_milestone: dict[str, list[float]] = {}
    by_task: dict[str, list[float]] = {}
    for record in records:
        cost = number(record.get("cost_usd"))
        values = (
            1,
            cost is not None,
            cost or 0.0,
            number(record.get("input_tokens")) or 0,
            number(record.get("output_tokens")) or 0,
            number(record.get("cache_read_tokens")) or 0,
        )
        for groups, key in ((by_milestone, record.get("milestone_id")), (by_task, record.get("task_id"))):
            total = groups.setdefault(key if isinstance(key, str) else "", [0, 0, 0.0, 0, 0, 0])
            for index, value in enumerate(values):
                total[index] += value
    return by_milestone, by_task


def _freeze(key: str, label: str, sums: Iterable[list[float]]) -> Usage:
    total = [sum(column) for column in zip(*sums, strict=True)] or [0] * len(_USAGE)
    values = {name: (value if name == "cost_usd" else int(value)) for name, value in zip(_USAGE, total, strict=True)}
    return Usage(key=key, label=label, **values)


def _milestone_name(mission: Mission, key: str) -> str:
    if not key:
        return "no milestone"
    milestone = mission.milestone(key)
    return milestone.name if milestone else ""
