"""The reader of codex json: compact view, telemetry and usage limits over written and recorded streams."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mosaic_invoke.agents import Reader, reader_for

STREAMS = Path(__file__).parent.parent / "streams"
UTC = timezone.utc
EST = timezone(timedelta(hours=-5))
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def replay(name: str, *, extra: list[str] | None = None) -> tuple[Reader, list[str]]:
    reader = reader_for("codex-json")
    lines = (STREAMS / name).read_text().splitlines(keepends=True) + (extra or [])
    return reader, [view for line in lines for view in reader.feed(line)]


def event(**fields: Any) -> str:
    return json.dumps(fields) + "\n"


def test_codex_success_shows_messages_commands_and_changes() -> None:
    reader, shown = replay("codex-success.jsonl")
    assert shown == [
        "· session 0199a213-81c0-7800-8aa1-bbab2a035a53",
        "→ shell: bash -lc 'make test'",
        "  ✗ exit 2",
        "→ edit: /work/project/src/quota.py (update), /work/project/tests/test_quota.py (add)",
        "→ shell: bash -lc 'make test'",
        "→ tracker.update",
        'Fixed the quota message (it said "You\'ve hit your usage limit" twice).',
        "The tests pass; T-002 is done.",
        "✓ turn completed: 24,763 input tokens (24,448 cached), 122 output tokens",
    ]
    assert reader.telemetry() == {
        "agent_session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
        "input_tokens": 24763,
        "cache_read_tokens": 24448,
        "output_tokens": 122,
        "is_error": False,
        "final_message": 'Fixed the quota message (it said "You\'ve hit your usage limit" twice).\nThe tests pass; T-002 is done.',
    }


@pytest.mark.parametrize(
    ("name", "now", "resume_at"),
    [
        pytest.param(
            "codex-usage-limit-at-time.jsonl",
            datetime(2026, 11, 27, 10, 5, tzinfo=EST),
            "2026-11-27T17:16:00.000Z",
            id="at-time",
        ),
        pytest.param(
            "codex-usage-limit-at-time.jsonl",
            datetime(2026, 11, 27, 12, 20, tzinfo=EST),
            "2026-11-27T17:16:00.000Z",
            id="at-time-just-past",
        ),
        pytest.param(
            "codex-usage-limit-in-duration.jsonl",
            datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
            "2026-11-30T03:14:00.000Z",
            id="in-duration",
        ),
        pytest.param(
            "codex-usage-limit-at-date.jsonl",
            datetime(2026, 4, 26, 9, 0, tzinfo=EST),
            "2026-04-29T03:03:00.000Z",
            id="at-date",
        ),
    ],
)
def test_codex_usage_limits(name: str, now: datetime, resume_at: str) -> None:
    reader, shown = replay(name)
    verdict = reader.verdict(now)
    assert verdict is not None and verdict.kind == "usage-limit" and verdict.resume_at == resume_at
    assert verdict.message.startswith("You've hit your usage limit.") and shown[-1].startswith(
        "✗ turn failed: You've hit"
    )
    assert reader.telemetry()["is_error"] is True


def test_the_recorded_offline_codex_names_its_thread_and_is_no_limit() -> None:
    reader, shown = replay("codex-0.171.0-offline-hangs.jsonl")
    assert shown[0] == "· session 01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"
    assert shown[-1] == "! Reconnecting... waiting for network (Connection failed: error sending request)"
    assert reader.telemetry() == {"agent_session_id": "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"}
    assert reader.verdict(NOW) is None


def test_a_completed_turn_clears_the_errors_before_it() -> None:
    reader, _ = replay("codex-transient-429.jsonl", extra=[event(type="turn.completed", usage={})])
    assert reader.verdict(NOW) is None and reader.telemetry()["is_error"] is False
