"""Usage limits, hard walls and transient errors as sessions record them, in the foreground and detached."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import coord, wait_for

from cli.agent_stand_ins import TIMEOUT_AFTER_SPEAKING, agent_env, ended, sessions

ZONE = "Asia/Tokyo"  # far from UTC: a time of day the agent prints is local time
OUTPUTS = {"claude": "claude-stream-json", "codex": "codex-json"}
LIMIT_KEYS = ("ended_reason", "exit_code", "resume_at", "limit", "transient", "unusable")


def session_of(
    project: Path, tmp_path: Path, runtime: str, stream: str, *args: str, **settings: object
) -> dict[str, Any]:
    """Run one session with ``runtime`` playing ``stream``; its record, as `run --json` prints it,
    with what coord said on stderr (the live view too) as ``said``."""
    env = {**agent_env(tmp_path, stream, **settings), "TZ": ZONE}
    result = coord("run", "--json", "--runtime", runtime, *args, cwd=project, env=env)
    record: dict[str, Any] = json.loads(result.stdout)
    assert record == sessions(project)[-1], result.stderr
    assert result.returncode == record["exit_code"]
    return {**record, "said": result.stderr}


def limit_of(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in LIMIT_KEYS if key in record}


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def within(found: datetime, before: datetime, after: datetime, later: timedelta) -> bool:
    """``found`` is ``later`` after a moment of the run (whole seconds: one either side)."""
    second = timedelta(seconds=1)
    return before + later - second <= found <= after + later + second


def test_claude_rejected_with_resets_at_is_a_usage_limit(project: Path, tmp_path: Path) -> None:
    before = datetime.now(timezone.utc)
    record = session_of(project, tmp_path, "claude", "claude-usage-limit.jsonl", exit=1, resets_in=3600)
    after = datetime.now(timezone.utc)
    assert (record["ended_reason"], record["exit_code"]) == ("usage-limit", 1)
    assert "limit" not in record and "transient" not in record
    assert within(moment(record["resume_at"]), before, after, timedelta(hours=1)), record["resume_at"]
    assert (record["cost_usd"], record["num_turns"], record["is_error"]) == (0.0512, 3, True)
    told = f"coord: session sess-001 hit a usage limit until {record['resume_at']}: You've hit your session limit"
    assert told in record["said"]


@pytest.mark.parametrize(
    ("stream", "hours"),
    [
        pytest.param("codex-usage-limit-in-duration.jsonl", 2 * 24 + 17 + 14 / 60, id="try-again-in"),
        pytest.param("codex-usage-limit-at-date.jsonl", None, id="try-again-at-date"),
        pytest.param("codex-usage-limit-at-time.jsonl", None, id="try-again-at-time"),
    ],
)
def test_codex_try_again_is_a_usage_limit(project: Path, tmp_path: Path, stream: str, hours: float | None) -> None:
    before = datetime.now(timezone.utc)
    record = session_of(project, tmp_path, "codex", stream, exit=1)
    after = datetime.now(timezone.utc)
    assert (record["ended_reason"], record["exit_code"]) == ("usage-limit", 1) and "limit" not in record
    resume_at = moment(record["resume_at"])
    if hours is not None:
        assert within(resume_at, before, after, timedelta(hours=hours)), record["resume_at"]
    elif "date" in stream:  # "Apr 28th, 2026 10:03 PM", in the agent's (local) time
        assert resume_at == datetime(2026, 4, 28, 22, 3, tzinfo=ZoneInfo(ZONE))
    else:  # "12:16 PM": the next 12:16 in local time
        local = resume_at.astimezone(ZoneInfo(ZONE))
        assert (local.hour, local.minute) == (12, 16), record["resume_at"]
        assert before - timedelta(minutes=10) <= resume_at <= before + timedelta(days=1)


@pytest.mark.parametrize(
    ("runtime", "stream"),
    [("claude", "claude-hard-wall.jsonl"), ("codex", "codex-hard-wall.jsonl")],
)
def test_a_hard_wall_is_a_usage_limit_no_wait_lifts(project: Path, tmp_path: Path, runtime: str, stream: str) -> None:
    record = session_of(project, tmp_path, runtime, stream, exit=1)
    assert limit_of(record) == {"ended_reason": "usage-limit", "exit_code": 1, "limit": "hard"}
    assert "coord: session sess-001 hit a usage limit that no wait lifts: " in record["said"]


@pytest.mark.parametrize(
    ("runtime", "stream"),
    [("claude", "claude-transient-429.jsonl"), ("codex", "codex-transient-429.jsonl")],
)
def test_a_transient_429_is_a_failure_worth_another_try(
    project: Path, tmp_path: Path, runtime: str, stream: str
) -> None:
    record = session_of(project, tmp_path, runtime, stream, exit=1)
    assert limit_of(record) == {"ended_reason": "failed", "exit_code": 1, "transient": True}
    assert "coord: session sess-001 met a transient error, worth another try: " in record["said"]


@pytest.mark.parametrize(
    ("runtime", "stream"),
    [("claude", "claude-usage-limit.jsonl"), ("codex", "codex-usage-limit-in-duration.jsonl")],
)
def test_a_session_ended_by_its_timeout_is_never_a_usage_limit(
    project: Path, tmp_path: Path, runtime: str, stream: str
) -> None:
    timeout = ("--session-timeout", TIMEOUT_AFTER_SPEAKING)
    record = session_of(project, tmp_path, runtime, stream, *timeout, hang=1, resets_in=3600)
    assert limit_of(record) == {"ended_reason": "timeout", "exit_code": 143}
    assert "You've hit your" in record["said"]  # the agent told of a limit before its timeout
    assert "hit a usage limit" not in record["said"] and "transient" not in record["said"]


@pytest.mark.parametrize(
    ("runtime", "stream", "code"),
    [
        pytest.param("claude", "claude-success.jsonl", 0, id="claude-allowed-and-warning"),
        pytest.param("claude", "claude-success.jsonl", 1, id="claude-failed"),
        pytest.param("codex", "codex-success.jsonl", 0, id="codex"),
        pytest.param("codex", "codex-success.jsonl", 1, id="codex-failed"),
    ],
)
def test_limit_words_in_tool_output_files_or_the_agents_text_are_no_limit(
    project: Path, tmp_path: Path, runtime: str, stream: str, code: int
) -> None:
    record = session_of(project, tmp_path, runtime, stream, exit=code)
    reason = "completed" if code == 0 else "failed"
    assert limit_of(record) == {"ended_reason": reason, "exit_code": code}
    assert "hit a usage limit" not in record["said"] and "transient" not in record["said"]
    assert "usage limit" in record["final_message"] or "hit your limit" in record["final_message"]


@pytest.mark.parametrize(
    ("runtime", "stream", "expected"),
    [
        pytest.param(
            "claude", "claude-usage-limit.jsonl", {"ended_reason": "usage-limit", "exit_code": 1}, id="claude-limit"
        ),
        pytest.param(
            "codex",
            "codex-hard-wall.jsonl",
            {"ended_reason": "usage-limit", "exit_code": 1, "limit": "hard"},
            id="codex-wall",
        ),
        pytest.param(
            "codex",
            "codex-transient-429.jsonl",
            {"ended_reason": "failed", "exit_code": 1, "transient": True},
            id="codex-transient",
        ),
    ],
)
def test_detached_sessions_get_the_same_verdicts(
    project: Path, tmp_path: Path, runtime: str, stream: str, expected: dict[str, Any]
) -> None:
    env = {**agent_env(tmp_path, stream, exit=1, resets_in=600), "TZ": ZONE}
    started = coord("run", "--detach", "--runtime", runtime, cwd=project, env=env)
    assert started.returncode == 0, started.stderr
    wait_for(lambda: ended(project))
    (record,) = sessions(project)
    found = limit_of(record)
    resume_at = found.pop("resume_at", None)
    assert found == expected
    assert (resume_at is not None) == (runtime == "claude")
    assert record["agent_session_id"] and record["output"] == OUTPUTS[runtime]
    log = Path(record["log_path"]).read_text()
    said = {  # the supervisor says so where the session's output goes
        "transient": "met a transient error, worth another try: ",
        "hard": "hit a usage limit that no wait lifts: ",
        "claude": f"hit a usage limit until {resume_at}: ",
    }
    told = said["transient" if "transient" in found else "hard" if "limit" in found else "claude"]
    assert f"coord: session sess-001 {told}" in log


NOT_LOGGED_IN = [
    pytest.param("claude", "claude-2.1.197-not-logged-in.jsonl", "Not logged in · Please run /login", id="claude"),
    pytest.param(
        "codex",
        "codex-unauthorized.jsonl",
        "exceeded retry limit, last status: 401 Unauthorized, request id: req_def456",
        id="codex",
    ),
]


@pytest.mark.parametrize(("runtime", "stream", "why"), NOT_LOGGED_IN)
def test_an_agent_not_logged_in_is_recorded_as_unusable(
    project: Path, tmp_path: Path, runtime: str, stream: str, why: str
) -> None:
    record = session_of(project, tmp_path, runtime, stream, exit=1)
    assert limit_of(record) == {"ended_reason": "failed", "exit_code": 1, "unusable": why}
    assert f"coord: session sess-001: the agent cannot work here: {why}" in record["said"]


@pytest.mark.parametrize(("runtime", "stream", "why"), NOT_LOGGED_IN)
def test_a_loop_stops_at_once_on_an_agent_not_logged_in(
    project: Path, tmp_path: Path, runtime: str, stream: str, why: str
) -> None:
    """One session, no back-off and no second try: exit 1 with `agent-unusable`."""
    env = {**agent_env(tmp_path, stream, exit=1), "INVOKE_COORD_LOOP_REPORT": "false"}
    result = coord("loop", "--runtime", runtime, "--backoff", "1h", cwd=project, env=env)
    assert result.returncode == 1, result.stderr
    (record,) = sessions(project)
    assert record["unusable"] == why
    said = f"the agent ({runtime}) cannot work here: {why}; log it in, then start the loop again"
    assert result.stderr.splitlines()[-1] == f"coord: error: the loop stopped: {said}"
    assert "coord: loop loop-001 stopped: agent-unusable\n" in result.stderr
    assert "loop waits" not in result.stderr
    loop = json.loads((project / ".mosaic" / "orchestrator" / "loop.json").read_text())
    assert (loop["stop_reason"], loop["stop_detail"]) == ("agent-unusable", said)
