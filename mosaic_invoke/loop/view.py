"""A loop as people see it: its summary, its line in `status`, and `coord.stop`."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.clock import format_span, seconds_between
from mosaic_invoke.store.liveness import hostname, process_start_time
from mosaic_invoke.store.loopfile import LoopRecord, landing_now, read_loop, request_stop
from mosaic_invoke.store.state import LOOP_FILE

OUTPUT_MARK = "| "
"""Starts each line of a stop detail that quotes a program's output (the gates' last lines)."""


def split_detail(detail: str | None) -> tuple[list[str], list[str]]:
    """A stop detail's lines: what stopped the loop (one line per problem), and the output it
    quotes, each line marked with `OUTPUT_MARK`."""
    lines = (detail or "").split("\n") if detail else []
    return [line for line in lines if not line.startswith(OUTPUT_MARK)], [
        line for line in lines if line.startswith(OUTPUT_MARK)
    ]


def summary_lines(record: LoopRecord, *, problems: bool = True) -> list[str]:
    """What a loop prints when it stops, one message each: the stop with its reason (left out
    with ``problems`` false, for the error lines that follow to say it once) and the output the
    reason quotes, a line each under it; then the counts."""
    said, output = split_detail(record.stop_detail)
    why = f" ({'; '.join(said)})" if said and problems else ""
    wall = seconds_between(record.started_at, record.ended_at) if record.ended_at else None
    count = len(record.sessions)
    return [
        "\n  ".join([f"loop {record.loop_id} stopped: {record.stop_reason}{why}", *output]),
        f"{count} session{'s' if count != 1 else ''}: {record.accepted} accepted, {record.rejected} rejected, "
        f"{record.failures} failed; cost ${record.cost_usd:.2f}; wall time {format_span(wall or 0)}",
    ]


def caps_line(caps: LoopCaps) -> str:
    """What a loop says of its caps as it starts: ``at most 20 sessions, 3 failures in a row, ...``."""
    parts = [_count(caps.max_sessions, "at most {} session") if caps.max_sessions else "no session cap"]
    if caps.max_failures:
        parts.append(_count(caps.max_failures, "{} failure") + " in a row")
    if caps.max_attempts:
        parts.append(_count(caps.max_attempts, "{} attempt") + " per task")
    if caps.max_idle_sessions:
        parts.append(_count(caps.max_idle_sessions, "{} session") + " without progress")
    if caps.max_hours:
        parts.append(f"{format_span(caps.max_hours)} in all")
    if caps.max_cost_usd:
        parts.append(f"${caps.max_cost_usd:.2f} of agent cost")
    if caps.lanes > 1:
        parts.append(f"{caps.lanes} lanes")
    return ", ".join(parts)


def _count(number: int, words: str) -> str:
    return words.format(number) + ("s" if number != 1 else "")


def loop_view(orchestrator: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The loop as `status --json` shows it (None: never a loop here), and a warning."""
    record, warning = read_loop(orchestrator)
    if record is None:
        return None, warning
    view = record.to_dict()
    view["state"] = "ended" if not record.running else {"live": "running"}.get(record.judge(), record.judge())
    running = 1 if record.current_session and record.running else 0
    if record.lanes and record.running:
        running = len(record.lanes)
        view["landing"] = landing_now(orchestrator)
    view["step"] = len(record.sessions) + running  # the session now running is this step
    view["max_sessions"] = record.caps.get("max_sessions")
    if view["state"] == "stale":
        view["state"] = "crashed"
    return view, warning


def loop_lines(view: dict[str, Any] | None, hint: str) -> list[str]:
    """The loop's lines in `status`."""
    if view is None:
        return []
    if view["state"] == "ended":
        said, output = split_detail(view.get("stop_detail"))
        why = f" ({'; '.join(said)})" if said else ""
        stopped = f"loop     {view['loop_id']} stopped: {view['stop_reason']}{why}, at {view.get('ended_at')}"
        return [stopped, *(f"           {line}" for line in output)]
    if view["state"] == "crashed":
        return [f"loop     {view['loop_id']} (pid {view['pid']}) is no longer running; {hint} records it as crashed"]
    cap = f"/{view['max_sessions']}" if view.get("max_sessions") else ""
    lines = [
        f"loop     {view['loop_id']} running (pid {view['pid']}), step {view['step']}{cap}, since {view['started_at']}"
    ]
    if view.get("waiting_until"):
        lines.append(
            f"         waiting until {view['waiting_until']} for {view.get('waiting_for') or 'the next session'}"
        )
    elif view.get("current_session"):
        lines.append(f"         now running {view['current_session']}")
    for lane in view.get("lanes") or ():
        lines.append(
            f"         lane {lane['lane']}: {lane['session_id']} {lane['task_id']}, since {lane['started_at']}, "
            f"in {lane['worktree']}"
        )
    if view.get("landing"):
        landing = view["landing"]
        lines.append(f"         landing {landing['task_id']} ({landing['session_id']}) since {landing['since']}")
    return lines


def stop_loop(mission_file: Path, *, now: bool) -> str:
    """Ask the running loop to stop: after its current session, or at once (``now``)."""
    orchestrator = load_mission(mission_file).orchestrator_path
    record, warning = read_loop(orchestrator)
    if record is None:
        msg = warning or "no loop has run for this mission; there is nothing to stop"
        raise CoordError(msg)
    if not record.running:
        msg = f"no loop is running; the last one, {record.loop_id}, stopped: {record.stop_reason}"
        raise CoordError(msg)
    verdict = record.judge()
    if verdict == "stale":
        msg = (
            f"loop {record.loop_id} (pid {record.pid}) is no longer running; the next run or loop records it as crashed"
        )
        raise CoordError(msg)
    request_stop(orchestrator, now=now)
    proven = verdict == "live" and _is_the_loop(record)
    if proven:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(record.pid, signal.SIGUSR1)  # wakes it from a wait
    when = "now, interrupting its session" if now else "after its current session"
    if verdict != "live":
        where = f" (it runs on {record.host}: it sees the request when it next looks)"
    elif not proven:
        where = (
            f" ({LOOP_FILE} does not prove that pid {record.pid} is the loop, so it was sent no signal: "
            "it sees the request when it next looks)"
        )
    else:
        where = ""
    return f"asked loop {record.loop_id} (pid {record.pid}) to stop {when}{where}"


def _is_the_loop(record: LoopRecord) -> bool:
    """Proof that ``record.pid`` is the loop, before a signal: this host, and the start time the
    loop wrote (a hand-written loop.json without it names any process, pid 1 even)."""
    return (
        record.host == hostname()
        and record.pid_started_at is not None
        and process_start_time(record.pid) == record.pid_started_at
    )
