"""``coord.status``: a read-only view of the mission, as a dict (``--json``) or as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mosaic_invoke.config.guides import missing_guides
from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.config.settings import Settings
from mosaic_invoke.errors import CoordError, command
from mosaic_invoke.session.git import current_branch
from mosaic_invoke.store.clock import format_duration
from mosaic_invoke.store.locks import read_session_lock
from mosaic_invoke.store.state import LOOP_FILE, load_state
from mosaic_invoke.tasks.selection import (
    Progress,
    check_milestones,
    current_milestone,
    milestone_statuses,
    next_runnable,
    runnable,
)
from mosaic_invoke.tasks.task import priority_name
from mosaic_invoke.tasks.tasksfile import Task, TaskStatus
from mosaic_invoke.tasks.tasksfile import load as load_tasks

RECENT_SESSIONS = 5


def status(mission_file: Path, recent: int = RECENT_SESSIONS, settings: Settings | None = None) -> dict[str, Any]:
    """Everything ``coord.status`` shows. Reads files only (and, with a shared remote, its
    claims); never writes coord's files.

    A mistake that would stop a session before it starts is an error here too: mission.yaml's
    `runtime` naming no runtime, unless the config (``settings``) launches another.
    """
    mission = load_mission(mission_file)
    settings = settings or Settings()
    if not (settings.runtime or settings.command) and (problem := mission.runtime_problem(settings.runtimes)):
        raise CoordError(problem)
    tasks = load_tasks(mission.tasks_path)
    check_milestones(mission, tasks)
    state = load_state(mission.orchestrator_path, mission.id)
    lock, warning = read_session_lock(mission.orchestrator_path)
    counts = tasks.counts()
    progress = Progress.of(counts)
    current = current_milestone(mission, counts)
    statuses = milestone_statuses(mission, counts)
    by_milestone: dict[str | None, dict[TaskStatus, int]] = {}  # one pass over the counts, not one per milestone
    for (milestone_id, task_status), n in counts.items():
        by_milestone.setdefault(milestone_id, {})[task_status] = n
    milestones = []
    for milestone in mission.milestones:
        own = by_milestone.get(milestone.id, {})
        milestones.append(
            {
                "id": milestone.id,
                "name": milestone.name,
                "status": statuses[milestone.id].value,
                "done": own.get(TaskStatus.DONE, 0),
                "total": sum(own.values()),
                "current": milestone is current,
            }
        )
    by_status = {status.value: 0 for status in TaskStatus}
    for (_, status), n in counts.items():
        by_status[status.value] += n
    live = stale = None
    if lock is not None:
        verdict = lock.judge()
        if verdict == "stale":
            stale = {"session_id": lock.session_id, "pid": lock.pid, "host": lock.host}
        else:
            record = state.session(lock.session_id)
            live = {
                "session_id": lock.session_id,
                "runtime": lock.runtime,
                "pid": lock.pid,
                "task_id": lock.task_id,
                "started_at": lock.started_at,
                "host": lock.host,
                "checked": verdict == "live",
                "log_path": record.log_path if record else None,
            }
    finished = progress.total > 0 and by_status["done"] + by_status["cancelled"] == progress.total
    loop, loop_warning = None, None
    if (mission.orchestrator_path / LOOP_FILE).exists():  # most missions never ran a loop: import nothing
        from mosaic_invoke.loop.view import loop_view

        loop, loop_warning = loop_view(mission.orchestrator_path)
    in_lanes = (
        {lane["task_id"] for lane in (loop or {}).get("lanes") or ()} if loop and loop["state"] == "running" else set()
    )
    if in_lanes:  # the next task is one no lane runs
        found: Task | str = next(
            (task for task in runnable(mission, tasks) if task.id not in in_lanes), "every runnable task runs in a lane"
        )
    else:
        found = next_runnable(mission, tasks, live_task=lock.task_id if lock and live else None)
    totals = state.summary
    return {
        "mission": {"id": mission.id, "name": mission.name, "status": "completed" if finished else state.status},
        "project_path": str(mission.root),
        "branch": current_branch(mission.root),
        "progress": {"done": progress.done, "total": progress.total, "pct": progress.pct},
        "milestones": milestones,
        "counts": by_status,
        "next_task": None if isinstance(found, str) else found.id,
        "next_task_priority": None if isinstance(found, str) or not tasks.has_priorities else found.priority,
        "next_task_reason": found if isinstance(found, str) else None,
        "session": live,
        "stale_lock": stale,
        "sessions": [session.to_dict() for session in state.last(recent)],
        "cost": {
            "total_usd": totals["cost_usd"],
            "input_tokens": totals["input_tokens"],
            "output_tokens": totals["output_tokens"],
            "by_milestone": dict(totals["by_milestone"]),
        },
        "current_milestone": current.id if current else None,
        "loop": loop,
        "claims": _claims(mission),
        "warnings": [*tasks.warnings, *(w for w in (warning, loop_warning, missing_guides(mission)) if w)],
    }


def _claims(mission: Mission) -> dict[str, Any] | None:
    """Other hosts' claims on the shared remote (SPEC 16); None without `remote`."""
    if mission.remote is None:
        return None
    from mosaic_invoke.views.claims import claims_view  # only a mission with a remote: git, the remote's modules

    return claims_view(mission)


def format_status(view: dict[str, Any]) -> str:
    """The text form of :func:`status`."""
    mission, progress = view["mission"], view["progress"]
    lines = [
        f"{mission['name']} ({mission['id']}): {mission['status']}",
        f"project  {view['project_path']}" + (f" (branch {view['branch']})" if view["branch"] else ""),
        f"progress {progress['done']}/{progress['total']} tasks done ({progress['pct']}%)",
    ]
    if view["milestones"]:
        lines.append("")
        lines.append("milestones")
        width = max(len(m["id"]) for m in view["milestones"])
        name_width = max(len(m["name"]) for m in view["milestones"])
        for m in view["milestones"]:
            marker = ">" if m["current"] else " "
            lines.append(
                f"  {marker} {m['id']:<{width}}  {m['name']:<{name_width}}  {m['status']:<11}  {m['done']}/{m['total']}"
            )
    counted = [f"{n} {name}" for name, n in view["counts"].items() if n]
    lines.append("")
    lines.append("tasks    " + (", ".join(counted) if counted else "none"))
    rank = view.get("next_task_priority")
    ranked = f" (priority {priority_name(rank)})" if rank is not None else ""
    lines.append(
        "next     " + (f"{view['next_task']}{ranked}" if view["next_task"] else f"none ({view['next_task_reason']})")
    )
    if view["session"]:
        s = view["session"]
        where = "" if s["checked"] else f" on host {s['host']}, not checked from here"
        lines.append(
            f"running  {s['session_id']} ({s['runtime']}, pid {s['pid']}{where}), "
            f"task {s['task_id'] or '—'}, since {s['started_at']}"
        )
        if s.get("log_path"):
            lines.append(f"         log: {s['log_path']}")
    elif view["stale_lock"]:
        s = view["stale_lock"]
        lines.append(
            f"stale    {s['session_id']} (pid {s['pid']}) is not running but left its lock; "
            f"recover with `{command('resume')}`"
        )
    elif view["loop"] and view["loop"].get("lanes") and view["loop"]["state"] == "running":
        count = len(view["loop"]["lanes"])
        lines.append(f"running  {count} lane{'s' if count != 1 else ''} of loop {view['loop']['loop_id']} (below)")
    else:
        lines.append("running  nothing")
    if view["loop"] is not None:
        from mosaic_invoke.loop.view import loop_lines  # as in `status`: only when a loop has run

        lines.extend(loop_lines(view["loop"], f"`{command('loop')}` or `{command('run')}`"))
    if view.get("claims") is not None:
        from mosaic_invoke.views.claims import claims_lines  # only a mission with a remote

        lines.extend(claims_lines(view["claims"]))
    cost = view["cost"]
    if cost["total_usd"]:
        current = view["current_milestone"]
        here = cost["by_milestone"].get(current, 0.0) if current else None
        where = f", ${here:.2f} in {current} (current)" if here is not None else ""
        lines.append(f"cost     ${cost['total_usd']:.2f} in all{where}")
    stale_id = view["stale_lock"]["session_id"] if view["stale_lock"] else None
    if view["sessions"]:
        lines.append("")
        lines.append("recent sessions")
        for s in view["sessions"]:
            how = s.get("ended_reason") or ("cut off (stale lock)" if s["session_id"] == stale_id else "running")
            if s.get("exit_code") not in (None, 0):
                how += f" (exit {s['exit_code']})"
            if s.get("verdict"):
                how += f", {s['verdict']}"
            lines.append(
                f"  {s['session_id']}  {s['runtime']:<7} {s.get('task_id') or '—':<10} "
                f"{format_duration(s.get('duration_seconds')):>7}  {how}"
            )
    return "\n".join(lines)
