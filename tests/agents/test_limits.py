"""Limits in the agents' error messages: what kind, and when they reset."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mosaic_invoke.agents.limits import classify, from_epoch, iso, resume_at

UTC = timezone.utc
PST = timezone(timedelta(hours=-8))


@pytest.mark.parametrize(
    ("message", "now", "expected"),
    [
        pytest.param(
            "Try again at 12:16 PM.",
            datetime(2026, 11, 27, 9, 0, tzinfo=PST),
            "2026-11-27T20:16:00.000Z",
            id="codex-time",
        ),
        pytest.param(
            "or try again at 9:05 AM.",
            datetime(2026, 11, 27, 23, 0, tzinfo=PST),
            "2026-11-28T17:05:00.000Z",
            id="codex-time-tomorrow",
        ),
        pytest.param(
            "Try again at Dec 1st, 2026 8:00 AM.",
            datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
            "2026-12-01T08:00:00.000Z",
            id="codex-date",
        ),
        pytest.param(
            "Try again at Jan 2nd, 2027 12:30 AM.",
            datetime(2026, 12, 31, 9, 0, tzinfo=UTC),
            "2027-01-02T00:30:00.000Z",
            id="codex-midnight",
        ),
        pytest.param(
            "Try again in 2 days 17 hours 14 minutes.",
            datetime(2026, 11, 27, 0, 0, tzinfo=UTC),
            "2026-11-29T17:14:00.000Z",
            id="codex-in",
        ),
        pytest.param(
            "try again in 1 hour, 30 minutes and 5 seconds",
            datetime(2026, 11, 27, 0, 0, tzinfo=UTC),
            "2026-11-27T01:30:05.000Z",
            id="codex-in-and",
        ),
        pytest.param(
            "Try again in 45m.",
            datetime(2026, 11, 27, 0, 0, tzinfo=UTC),
            "2026-11-27T00:45:00.000Z",
            id="codex-in-short",
        ),
        pytest.param(
            "5-hour limit reached ∙ resets 9pm",
            datetime(2026, 11, 27, 22, 0, tzinfo=UTC),
            "2026-11-28T21:00:00.000Z",
            id="claude-tomorrow",
        ),
        pytest.param(
            "You've hit your session limit · resets 12:50am (America/Los_Angeles)",
            datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
            "2026-11-27T08:50:00.000Z",
            id="claude-zone",
        ),
        pytest.param(
            "You've hit your weekly limit · resets Dec 3, 3pm (Europe/Paris)",
            datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
            "2026-12-03T14:00:00.000Z",
            id="claude-date-zone",
        ),
        pytest.param(
            "You've hit your limit · resets 2pm (Not/AZone)",
            datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
            "2026-11-27T14:00:00.000Z",
            id="claude-unknown-zone",
        ),
    ],
)
def test_reset_times(message: str, now: datetime, expected: str) -> None:
    moment = resume_at(message, now)
    assert moment is not None and iso(moment) == expected


@pytest.mark.parametrize(
    "message",
    [
        "You've hit your usage limit. Try again later.",
        "Try again at Feb 30th, 2026 10:03 PM.",  # no such day
        "Try again at 13:10 PM.",
        "try again in a while",
        "resets soon",
    ],
)
def test_no_reset_time(message: str) -> None:
    assert resume_at(message, datetime(2026, 11, 27, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("message", "status", "kind"),
    [
        ("You've hit your usage limit. Try again at 12:16 PM.", None, "usage-limit"),
        ("You've hit your session limit · resets 3pm", 429, "usage-limit"),
        ("5-hour limit reached ∙ resets 9pm", None, "usage-limit"),
        ("You're out of extra usage · resets 9pm", None, "usage-limit"),
        ("Your usage allocation has been disabled by your admin", None, "hard-wall"),
        ("You've hit your org's monthly usage limit", None, "hard-wall"),
        (
            "You've hit your usage limit. Upgrade to Plus to continue using Codex (https://openai.com/chatgpt/pricing).",
            None,
            "hard-wall",
        ),
        ("Quota exceeded. Check your plan and billing details.", None, "hard-wall"),
        ("API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited", 429, "transient"),
        (
            "Reconnecting... 1/5 (unexpected status 429 Too Many Requests: Rate limit reached for requests)",
            None,
            "transient",
        ),
        ("We're currently experiencing high demand, which may cause temporary errors.", None, "transient"),
        ("API Error: Repeated 529 Overloaded errors", None, "transient"),
        ("Internal server error", 500, "transient"),
        ("Not logged in · Please run /login", None, "unusable"),
        ("exceeded retry limit, last status: 401 Unauthorized, request id: req_def456", None, "unusable"),
        ('unexpected status 401 Unauthorized: {"detail":"Unauthorized"}', None, "unusable"),
        ("Invalid API key · Please run /login", None, "unusable"),
        ("API Error: 401 authentication error", 401, "unusable"),
        ("Reconnecting... waiting for network (Connection failed: error sending request)", None, None),
        ("Reached maximum number of turns (30)", None, None),
    ],
)
def test_classify(message: str, status: int | None, kind: str | None) -> None:
    assert classify(message, status=status) == kind


@pytest.mark.parametrize("value", ["1795791600", True, None, float("nan"), 10**20])
def test_from_epoch_takes_only_plausible_numbers(value: object) -> None:
    assert from_epoch(value) is None


def test_from_epoch_and_iso() -> None:
    moment = from_epoch(1795791600.25)
    assert moment is not None and iso(moment) == "2026-11-27T15:00:00.250Z"
    assert iso(datetime(2026, 11, 27, 7, 0, tzinfo=PST)) == "2026-11-27T15:00:00.000Z"


def test_a_reset_too_far_for_any_clock_is_no_time() -> None:
    from datetime import datetime, timezone

    from mosaic_invoke.agents.limits import resume_at

    now = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    assert resume_at("You've hit your usage limit. Try again in 9999999999 days.", now) is None
