"""The readers of agent output (claude stream-json, text, any format's bad lines): view, telemetry, verdicts."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_invoke.agents import Reader, Verdict, reader_for

STREAMS = Path(__file__).parent.parent / "streams"
UTC = timezone.utc
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def replay(name: str, output: str, *, extra: list[str] | None = None) -> tuple[Reader, list[str]]:
    reader = reader_for(output)
    lines = (STREAMS / name).read_text().splitlines(keepends=True) + (extra or [])
    shown = [view for line in lines for view in reader.feed(line)]
    return reader, shown


def event(**fields: Any) -> str:
    return json.dumps(fields) + "\n"


def test_claude_success_shows_text_tools_and_the_result_with_turns_and_cost() -> None:
    reader, shown = replay("claude-success.jsonl", "claude-stream-json")
    assert shown == [
        "· session 0c6f8a52-5b1e-4d7a-9f3c-2e8b7a1d4c60 (model claude-sonnet-4-5, permissions acceptEdits)",
        "I'll run the tests first to see what fails.",
        "→ Bash: make test",
        "  ✗ FAILED tests/test_api.py::test_limit - AssertionError: You've hit your usage limit. Try again at 3:00 PM.",
        "→ Read: /work/project/src/limits.py",
        "→ Edit: /work/project/src/limits.py",
        "→ mcp__tracker__update: T-002",
        "! nearing the seven_day limit",
        'The tests pass now. I fixed the message for "You\'ve hit your limit · resets 2pm" in src/limits.py',
        "and marked T-002 done in docs/TASKS.md.",
        "✓ result: success, 12 turns, $0.42",
    ]
    final = json.loads((STREAMS / "claude-success.jsonl").read_text().splitlines()[-1])["result"]
    assert reader.telemetry() == {
        "agent_session_id": "0c6f8a52-5b1e-4d7a-9f3c-2e8b7a1d4c60",
        "cost_usd": 0.4213,
        "input_tokens": 159200,  # every token read: 1,200 new + 8,000 written to cache + 150,000 from cache
        "output_tokens": 3400,
        "cache_read_tokens": 150000,
        "num_turns": 12,
        "result_subtype": "success",
        "is_error": False,
        "final_message": final,
    }
    assert reader.verdict(NOW) is None


def test_the_session_id_is_known_from_the_first_event() -> None:
    reader = reader_for("claude-stream-json")
    reader.feed((STREAMS / "claude-success.jsonl").read_text().splitlines()[0])
    assert reader.agent_session_id == "0c6f8a52-5b1e-4d7a-9f3c-2e8b7a1d4c60"
    assert reader.telemetry() == {"agent_session_id": "0c6f8a52-5b1e-4d7a-9f3c-2e8b7a1d4c60"}
    reader.feed(event(type="system", subtype="init", session_id="new-id"))  # a resumed run names its own
    assert reader.agent_session_id == "new-id"


def test_claude_usage_limit_resumes_at_resets_at() -> None:
    reader, shown = replay("claude-usage-limit.jsonl", "claude-stream-json")
    assert "! five_hour limit reached, resets 2026-11-27T15:00:00.000Z" in shown
    assert shown[-1] == "✗ result: error, 3 turns, $0.05: You've hit your session limit · resets 3pm (UTC)"
    expected = Verdict("usage-limit", "You've hit your session limit · resets 3pm (UTC)", "2026-11-27T15:00:00.000Z")
    assert reader.verdict(NOW) == expected
    assert reader.telemetry()["is_error"] is True and reader.telemetry()["cost_usd"] == 0.0512


def test_a_claude_session_killed_after_its_limit_still_waits() -> None:
    lines = (STREAMS / "claude-usage-limit.jsonl").read_text().splitlines()[:-1]  # no result event
    reader = reader_for("claude-stream-json")
    for line in lines:
        reader.feed(line)
    assert reader.verdict(NOW) == Verdict(
        "usage-limit", "You've hit your session limit · resets 3pm (UTC)", "2026-11-27T15:00:00.000Z"
    )


def test_claude_limit_text_without_a_rate_limit_event() -> None:
    reader = reader_for("claude-stream-json")
    text = "You've hit your limit · resets 2pm (Asia/Shanghai)"
    reader.feed(event(type="assistant", error="rate_limit", message={"content": [{"type": "text", "text": text}]}))
    reader.feed(event(type="result", subtype="success", is_error=True, result=text, num_turns=1))
    # 11:00 in Shanghai: the limit lifts at 14:00 there, 06:00 UTC
    assert reader.verdict(datetime(2026, 11, 27, 3, 0, tzinfo=UTC)) == Verdict(
        "usage-limit", text, "2026-11-27T06:00:00.000Z"
    )


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        pytest.param("allowed", {}, id="allowed"),
        pytest.param("allowed_warning", {"utilization": 0.95}, id="allowed-warning"),
        pytest.param("rejected", {"isUsingOverage": True}, id="rejected-but-extra-usage-pays"),
    ],
)
def test_rate_limit_events_that_are_no_limit(status: str, extra: dict[str, Any]) -> None:
    info = {"status": status, "resetsAt": 1795791600, "rateLimitType": "five_hour", **extra}
    reader, _ = replay(
        "claude-2.1.197-not-logged-in.jsonl",
        "claude-stream-json",
        extra=[event(type="rate_limit_event", rate_limit_info=info)],
    )
    # The stream's own failure (not logged in) stands; no limit.
    assert reader.verdict(NOW) == Verdict("unusable", "Not logged in · Please run /login")


def test_limit_words_in_tool_output_files_or_agent_text_are_no_limit() -> None:
    """Only the API's own errors count: the success stream is full of limit texts elsewhere."""
    lines = (STREAMS / "claude-success.jsonl").read_text().splitlines()[:-1]
    reader = reader_for("claude-stream-json")
    for line in lines:
        reader.feed(line)
    reader.feed(
        event(
            type="result",
            subtype="error_max_turns",
            is_error=True,
            num_turns=12,
            errors=["Reached maximum number of turns (12)"],
        )
    )
    assert reader.verdict(NOW) is None
    codex, shown = replay("codex-success.jsonl", "codex-json")
    assert any("usage limit" in line for line in shown) and codex.verdict(NOW) is None


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        pytest.param(
            "claude-transient-429.jsonl",
            "transient",
            "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited",
            id="claude-429",
        ),
        pytest.param(
            "claude-hard-wall.jsonl", "hard-wall", "You've hit your org's monthly usage limit", id="claude-wall"
        ),
        pytest.param(
            "codex-transient-429.jsonl",
            "transient",
            "exceeded retry limit, last status: 429 Too Many Requests, request id: req_abc123",
            id="codex-429",
        ),
        pytest.param(
            "codex-hard-wall.jsonl",
            "hard-wall",
            "Quota exceeded. Check your plan and billing details.",
            id="codex-wall",
        ),
    ],
)
def test_transient_errors_and_hard_walls(name: str, kind: str, message: str) -> None:
    reader, _ = replay(name, "codex-json" if name.startswith("codex") else "claude-stream-json")
    assert reader.verdict(NOW) == Verdict(kind, message)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        pytest.param(
            {"api_error_status": 529, "result": "API Error: Repeated 529 Overloaded errors"}, "transient", id="529"
        ),
        pytest.param({"api_error_status": 503, "result": "API Error: 503 upstream"}, "transient", id="503"),
        pytest.param({"result": "Your usage allocation has been disabled by your admin"}, "hard-wall", id="admin"),
        pytest.param({"result": "Credit balance is too low"}, "hard-wall", id="credit"),
        pytest.param({"api_error_status": 400, "result": "API Error: 400 bad request"}, None, id="400"),
    ],
)
def test_claude_failed_results(result: dict[str, Any], kind: str | None) -> None:
    reader = reader_for("claude-stream-json")
    reader.feed(event(type="result", subtype="success", is_error=True, num_turns=1, **result))
    verdict = reader.verdict(NOW)
    assert (verdict.kind if verdict else None) == kind


def test_claude_recorded_not_logged_in_and_unknown_resume() -> None:
    reader, shown = replay("claude-2.1.197-not-logged-in.jsonl", "claude-stream-json")
    assert shown == [
        "· session a7f0a38f-10b8-436b-9977-54962ad07f3c (model claude-opus-4-8[1m], permissions acceptEdits)",
        "✗ authentication_failed: Not logged in · Please run /login",
        "✗ result: error, 1 turn, $0.00: Not logged in · Please run /login",
    ]
    assert reader.verdict(NOW) == Verdict("unusable", "Not logged in · Please run /login")
    telemetry = reader.telemetry()
    assert telemetry["is_error"] is True and telemetry["result_subtype"] == "success"
    assert telemetry["final_message"] == "Not logged in · Please run /login"
    reader, shown = replay("claude-2.1.197-resume-unknown-session.jsonl", "claude-stream-json")
    assert shown == [
        "✗ result: error_during_execution, 0 turns, $0.00: No conversation found with session ID: 5b0c8f5e-3c1d-4a57-9d43-0f1e2a3b4c5d"
    ]
    assert reader.agent_session_id == "5b0c8f5e-3c1d-4a57-9d43-0f1e2a3b4c5d" and reader.verdict(NOW) is None


@pytest.mark.parametrize("output", ["claude-stream-json", "codex-json"])
def test_malformed_lines_are_shown_as_text_and_never_stop_the_reader(output: str) -> None:
    reader, shown = replay("malformed.jsonl", output, extra=["[" * 100_000 + "\n", "\x00\x1b[31m\n"])
    assert shown[:6] == [
        "not json at all",
        "Error: something the agent wrote on stderr",
        "[1, 2, 3]",
        "42",
        "null",
        '{"type":',
    ]
    assert "[" * 100_000 in shown and "\x00\x1b[31m" in shown
    assert "" not in shown  # a blank line shows nothing
    reader.telemetry()
    reader.verdict(NOW)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=6,
)
KEYS = st.sampled_from(["type", "subtype", "message", "content", "item", "usage", "rate_limit_info", "error", "result"])
EVENTS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "system",
                "assistant",
                "user",
                "result",
                "rate_limit_event",
                "thread.started",
                "turn.completed",
                "turn.failed",
                "error",
                "item.started",
                "item.completed",
            ]
        )
    },
    optional={
        key: JSON
        for key in [
            "subtype",
            "message",
            "item",
            "usage",
            "rate_limit_info",
            "error",
            "result",
            "session_id",
            "thread_id",
            "num_turns",
            "is_error",
            "errors",
            "total_cost_usd",
        ]
    },
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENTS | st.dictionaries(KEYS, JSON, max_size=4), max_size=5))
def test_any_events_give_text_telemetry_and_a_verdict_without_failing(events: list[dict[str, Any]]) -> None:
    for output in ("claude-stream-json", "codex-json"):
        reader = reader_for(output)
        for item in events:
            assert all(isinstance(line, str) for line in reader.feed(json.dumps(item)))
        json.dumps(reader.telemetry())  # what the session record stores
        verdict = reader.verdict(NOW)
        assert verdict is None or verdict.kind in ("usage-limit", "hard-wall", "transient")


def test_the_text_reader_passes_lines_through() -> None:
    reader = reader_for("text")
    assert [reader.feed(line) for line in ["hello\n", "\n", '{"type": "result"}\r\n']] == [
        ["hello"],
        [""],
        ['{"type": "result"}'],
    ]
    assert reader.telemetry() == {} and reader.verdict(NOW) is None and reader.agent_session_id is None


def test_final_message_is_cut_at_4000_characters() -> None:
    reader = reader_for("codex-json")
    reader.feed(event(type="item.completed", item={"id": "i", "type": "agent_message", "text": "x" * 5000}))
    assert reader.telemetry()["final_message"] == "x" * 4000


def test_unknown_output_format() -> None:
    with pytest.raises(ValueError, match="no reader for output 'yaml'"):
        reader_for("yaml")


@pytest.mark.parametrize("number", ["9" * 4000, "1e300", "1e999", "Infinity", "NaN", "-Infinity"])
def test_counts_and_costs_no_record_can_hold_are_left_out(number: str) -> None:
    """An integer past 64 bits (summed over sessions it would outgrow what JSON readers convert,
    and as a cost it has no float), a count past 64 bits, Infinity or NaN: nothing usable."""
    reader = reader_for("claude-stream-json")
    usage = f'{{"input_tokens": {number}, "output_tokens": 7}}'
    reader.feed(
        f'{{"type": "result", "subtype": "success", "is_error": false, "num_turns": {number}, '
        f'"total_cost_usd": {number}, "usage": {usage}}}\n'
    )
    found = reader.telemetry()
    assert found["output_tokens"] == 7
    assert "num_turns" not in found and "input_tokens" not in found
    assert "cost_usd" not in found
    assert reader.verdict(NOW) is None
