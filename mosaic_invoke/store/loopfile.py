"""loop.json: the running (or last) loop, its counters and caps; stop requests; crashed loops."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mosaic_invoke.store.clock import now_iso, seconds_between
from mosaic_invoke.store.files import write_json_atomic
from mosaic_invoke.store.liveness import Liveness, hostname, judge, process_start_time
from mosaic_invoke.store.records import present_fields, read_record
from mosaic_invoke.store.state import LOOP_FILE, State

STOP_FILE = "stop-request.json"
LANDING_FILE = "landing.json"
"""The lane now in the merge queue's hands: written by its supervisor while it lands."""


@dataclass(frozen=True, kw_only=True)
class LoopRecord:
    """A loop as loop.json keeps it (SPEC section 11)."""

    loop_id: str
    pid: int
    pid_started_at: int | None = None
    host: str
    started_at: str
    milestone: str | None = None
    caps: dict[str, Any] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)
    failures_in_row: int = 0
    attempts: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0
    accepted: int = 0
    rejected: int = 0
    failures: int = 0
    idle_in_row: int = 0
    """Sessions in a row that made no progress (section 17)."""
    same_error_in_row: int = 0
    """Sessions in a row that ended on the error ``last_error``."""
    last_error: str | None = None
    runtime: str | None = None
    """The runtime of the next session, when a fallback chose it (section 17); None: the loop's own."""
    held: dict[str, Any] = field(default_factory=dict)
    """Runtimes a usage limit holds (name -> when it lifts, or ``hard``) or that cannot be used (``unusable``)."""
    current_session: str | None = None
    lanes: list[dict[str, Any]] | None = None
    """With ``--lanes`` 2 or more: the running lanes, each ``{lane, task_id, session_id, started_at, worktree}``."""
    waiting_until: str | None = None
    waiting_for: str | None = None
    ended_at: str | None = None
    stop_reason: str | None = None
    stop_detail: str | None = None

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def judge(self) -> Liveness:
        return judge(self.host, self.pid, self.pid_started_at)

    def ended(self, reason: str, detail: str | None = None) -> LoopRecord:
        return replace(
            self,
            ended_at=now_iso(),
            stop_reason=reason,
            stop_detail=detail,
            current_session=None,
            waiting_until=None,
            # A loop that died leaves its lanes at work (their supervisors go on): the next command sees them.
            lanes=self.lanes if reason == "crashed" else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return present_fields(self)

    def summary(self) -> dict[str, Any]:
        """What state.json keeps of a past loop."""
        keep = ("loop_id", "pid", "host", "started_at", "ended_at", "stop_reason", "stop_detail", "milestone")
        data = self.to_dict()
        return {
            **{key: data[key] for key in keep if key in data},
            "sessions": list(self.sessions),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "failures": self.failures,
            "cost_usd": round(self.cost_usd, 6),
            "duration_seconds": seconds_between(self.started_at, self.ended_at) if self.ended_at else None,
            "caps": dict(self.caps),
        }


def loop_path(orchestrator: Path) -> Path:
    return orchestrator / LOOP_FILE


def read_loop(orchestrator: Path) -> tuple[LoopRecord | None, str | None]:
    """The loop record, or None; a damaged one is treated as absent, with a warning."""
    return read_record(loop_path(orchestrator), LoopRecord, "the loop record")


def write_loop(orchestrator: Path, record: LoopRecord) -> None:
    # Rewritten twice a session: atomic, not fsynced. A crash of the machine may leave the one
    # before; the sessions themselves are in state.json, and a loop that died is settled from there.
    write_json_atomic(loop_path(orchestrator), record.to_dict(), durable=False)


def new_loop(state: State, milestone: str | None, caps: dict[str, Any]) -> LoopRecord:
    number = 1 + max((_number(str(item.get("loop_id", ""))) for item in state.loops), default=0)
    pid = os.getpid()
    return LoopRecord(
        loop_id=f"loop-{number:03d}",
        pid=pid,
        pid_started_at=process_start_time(pid),
        host=hostname(),
        started_at=now_iso(),
        milestone=milestone,
        caps=caps,
    )


def settle_crashed_loop(orchestrator: Path, state: State) -> State:
    """A loop whose process died without ending is recorded as ``crashed`` (call under the state lock)."""
    record, _ = read_loop(orchestrator)
    if record is None or not record.running or record.judge() != "stale":
        return state
    summary = next((item for item in state.loops if item.get("loop_id") == record.loop_id), None)
    if summary is not None:  # it recorded its end in the state, then died before loop.json said so
        write_loop(orchestrator, record.ended(str(summary.get("stop_reason")), summary.get("stop_detail")))
        return state
    # The session it had started is its own, even if loop.json did not yet count or name it.
    newest = next(iter(state.last(1)), None)
    own = [record.current_session, newest.session_id if newest and newest.loop_id == record.loop_id else None]
    sessions = [*record.sessions, *(sid for sid in dict.fromkeys(own) if sid and sid not in record.sessions)]
    ended = replace(record, sessions=sessions).ended("crashed", "its process ended without stopping the loop")
    write_loop(orchestrator, ended)
    return state.with_loop(ended.summary())


def landing_now(orchestrator: Path) -> dict[str, Any] | None:
    """The landing under way (``{task_id, session_id, since, pid}``), if its process still runs."""
    try:
        data = json.loads((orchestrator / LANDING_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data if judge(data.get("host"), data["pid"], data.get("pid_started_at")) != "stale" else None


def request_stop(orchestrator: Path, *, now: bool) -> None:
    write_json_atomic(orchestrator / STOP_FILE, {"requested_at": now_iso(), "now": now})


def stop_requested(orchestrator: Path) -> dict[str, Any] | None:
    """The pending stop request, if any."""
    try:
        data = json.loads((orchestrator / STOP_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else {"now": False}


def stop_now_requested(orchestrator: Path) -> bool:
    """Whether the pending stop request is `coord.stop --now`."""
    request = stop_requested(orchestrator)
    return bool(request and request.get("now"))


def clear_stop(orchestrator: Path) -> None:
    with contextlib.suppress(OSError):
        (orchestrator / STOP_FILE).unlink(missing_ok=True)


def _number(loop_id: str) -> int:
    suffix = loop_id.removeprefix("loop-")
    return int(suffix) if suffix.isdigit() else 0
