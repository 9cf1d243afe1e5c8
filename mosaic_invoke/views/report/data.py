"""The report page's data: a mission's tasks, sessions, cost and loops, summarised for people."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.store.state import State
from mosaic_invoke.tasks.selection import Counts, Progress, current_milestone, milestone_statuses
from mosaic_invoke.tasks.tasksfile import TasksFile, TaskStatus
from mosaic_invoke.views.report.charts import Cumulative, Timeline, cumulative, timeline
from mosaic_invoke.views.report.rows import (
    ENDINGS,
    VERDICTS,
    ClaimRow,
    LoopRow,
    SessionRow,
    claim_rows,
    column,
    endings,
    loop_row,
    numbers,
    session_row,
    task_description,
    verdicts,
)

RECENT_SESSIONS = 20
TASKS_LISTED = 15
PAST_LOOPS = 10
_AMOUNTS = ("cost_usd", "input_tokens", "output_tokens", "cache_read_tokens")


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
    remote: str | None = None
    """The git remote the hosts share (mission.yaml's `remote`), or None: one machine."""
    claims: Sequence[ClaimRow] = ()
    """Other hosts' claims, as this host last polled the remote."""
    claims_as_of: str | None = None


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
    board: Mapping[str, Any] | None = None,
) -> Report:
    """The report of a mission; ``page_dir`` is the page's folder (log links are relative to it)."""
    records = list(state.records)
    counts = tasks.counts()
    progress = Progress.of(counts)
    finished = sum(n for (_, status), n in counts.items() if status in (TaskStatus.DONE, TaskStatus.CANCELLED))
    ended, judged = endings(records), verdicts(records)
    total, by_milestone, by_task, other_tasks = _costs(records, mission, tasks)
    live = records[-1] if records and records[-1].get("ended_at") is None else None
    past_loops = [loop_row(item, None) for item in state.loops[-PAST_LOOPS:]]
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
        endings={**dict.fromkeys(ENDINGS, 0), **Counter(ended)},
        verdicts={**dict.fromkeys(VERDICTS, 0), **Counter(judged)},
        done=cumulative(records),
        timeline=timeline(records, list(zip(ended, judged, strict=True)), (*ENDINGS, *VERDICTS)),
        total=total,
        by_milestone=by_milestone,
        by_task=by_task,
        other_tasks=other_tasks,
        recent=[session_row(record, tasks, mission, page_dir) for record in reversed(records[-RECENT_SESSIONS:])],
        running=session_row(live, tasks, mission, page_dir) if live is not None else None,
        loop=loop_row(loop, live) if loop is not None else None,
        past_loops=list(reversed(past_loops)),
        warnings=list(warnings),
        remote=mission.remote.name if mission.remote else None,
        claims=claim_rows(board, generated_at),
        claims_as_of=board.get("polled_at") if board else None,
    )


def _milestones(mission: Mission, counts: Counts) -> list[MilestoneView]:
    current = current_milestone(mission, counts)
    statuses = milestone_statuses(mission, counts)
    views = []
    for milestone in mission.milestones:
        own = {status.value: counts.get((milestone.id, status), 0) for status in TaskStatus}
        status = statuses[milestone.id].value
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


def _costs(
    records: Sequence[Mapping[str, Any]], mission: Mission, tasks: TasksFile
) -> tuple[Usage, list[Usage], list[Usage], Usage]:
    """Usage in all, per milestone (in mission.yaml order), for the costliest tasks, and for the other tasks."""
    amounts = [numbers(column(records, name)) for name in _AMOUNTS]
    milestone_keys = _keys(records, "milestone_id")
    milestones = _groups(milestone_keys, set(milestone_keys))
    order = {m.id: index for index, m in enumerate(mission.milestones)}
    task_keys = _keys(records, "task_id")
    costliest = _costliest(task_keys, amounts[0])
    listed = _groups(task_keys, set(costliest))
    others = [index for index, key in enumerate(task_keys) if key not in listed]
    return (
        _usage("total", "", amounts),
        [
            _usage(key, _milestone_name(mission, key), amounts, milestones[key])
            for key in sorted(milestones, key=lambda key: (order.get(key, len(order)), key == "", key))
        ],
        [_usage(key, task_description(tasks, key), amounts, listed[key]) for key in costliest],
        _usage("other", "", amounts, others),
    )


def _keys(records: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    """Each session's ``field`` (a milestone or task id), "" where it has none."""
    return [key if isinstance(key, str) else "" for key in column(records, field)]


def _costliest(keys: Sequence[str], costs: Sequence[float | None]) -> list[str]:
    """The `TASKS_LISTED` keys that cost most, then had the most sessions."""
    sessions = Counter(keys)
    spent: dict[str, float] = {}
    for key, cost in zip(keys, costs, strict=True):
        if cost is not None:
            spent[key] = spent.get(key, 0.0) + cost
    return heapq.nsmallest(TASKS_LISTED, sessions, key=lambda key: (-spent.get(key, 0.0), -sessions[key], key))


def _groups(keys: Sequence[str], chosen: set[str]) -> dict[str, list[int]]:
    """The positions of the sessions of each chosen key."""
    groups: dict[str, list[int]] = {key: [] for key in chosen}
    for index, key in enumerate(keys):
        if key in chosen:
            groups[key].append(index)
    return groups


def _usage(key: str, label: str, amounts: list[list[float | None]], indices: Sequence[int] | None = None) -> Usage:
    """What the sessions at ``indices`` (default: all) reported, summed; ``amounts`` in `_AMOUNTS` order.

    Summed a column at a time: a mission has thousands of sessions, and only a few rows show.
    """
    picked = amounts if indices is None else [[column[i] for i in indices] for column in amounts]
    costs = [cost for cost in picked[0] if cost is not None]
    tokens_in, tokens_out, cached = (int(sum(filter(None, column))) for column in picked[1:])
    return Usage(
        key=key,
        label=label,
        sessions=len(picked[0]),
        costed=len(costs),
        cost_usd=float(sum(costs)),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cache_read_tokens=cached,
    )


def _milestone_name(mission: Mission, key: str) -> str:
    if not key:
        return "no milestone"
    milestone = mission.milestone(key)
    return milestone.name if milestone else ""
