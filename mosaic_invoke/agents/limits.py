"""Usage limits, hard walls and transient errors in the agents' own error messages, and reset times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

VerdictKind = Literal["usage-limit", "hard-wall", "transient", "unusable"]


class _Lazy:
    """A regular expression compiled when first used: most sessions never hit a limit, and
    compiling these costs every command that reads an agent's output a few milliseconds."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._source)
        return getattr(self._compiled, name)


@dataclass(frozen=True)
class Verdict:
    """How a session ended when its agent hit a wall: what it was, and when to try again."""

    kind: VerdictKind
    """``usage-limit``: wait until ``resume_at``; ``hard-wall``: a person must act (stop a
    loop); ``transient``: a failed session worth another try (429, 529, overloaded);
    ``unusable``: the agent cannot work here at all (not logged in): no session can succeed."""
    message: str
    """The agent's words, on one line."""
    resume_at: str | None = None
    """When the limit resets (ISO 8601 UTC with milliseconds); None: the agent did not say."""


# Messages of the agents themselves (never matched against tool output or files).
HARD_WALLS = _Lazy(
    r"allocation has been disabled|monthly (?:usage|spend) limit|org is out of usage|disabled for your org"
    r"|usage limit is set to \$0|seat type doesn't include usage|quota exceeded|upgrade to plus"
    r"|credit balance is too low",
    re.IGNORECASE,
)
USAGE_LIMITS = _Lazy(
    r"(?<!not your )usage limit|hit your (?:[\w']+ )?limit|\d+-hour limit|out of (?:extra )?usage",
    re.IGNORECASE,
)
TRANSIENT = _Lazy(
    r"not your usage limit|overloaded|too many requests|high demand|temporarily|status:? (?:429|5\d\d)\b",
    re.IGNORECASE,
)
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504, 529})
UNUSABLE = _Lazy(
    r"not logged in|please run /login|invalid api key|incorrect api key|status:? 401\b|401 unauthorized"
    r"|authentication_failed|codex login",
    re.IGNORECASE,
)
"""The agent's own words for credentials it does not have: claude's "Not logged in · Please run
/login", codex's `401 Unauthorized`."""

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_CODEX_AT = _Lazy(
    rf"try again at (?:{_MONTH} (?P<day>\d{{1,2}})(?:st|nd|rd|th)?,? (?:(?P<year>\d{{4}}),? )?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))? ?(?P<half>[ap])\.?m\b",
    re.IGNORECASE,
)
_CODEX_IN = _Lazy(r"try again in (?P<span>\d+\s*[a-z]+(?:[\s,]+(?:and\s+)?\d+\s*[a-z]+)*)", re.IGNORECASE)
_SPAN_PART = _Lazy(r"(\d+)\s*([a-z]+)", re.IGNORECASE)
_UNITS = {"d": 86400, "day": 86400, "h": 3600, "hr": 3600, "hour": 3600, "m": 60, "min": 60, "minute": 60}
_UNITS |= {"s": 1, "sec": 1, "second": 1}
_CLAUDE_RESETS = _Lazy(
    rf"resets (?:at )?(?:{_MONTH} (?P<day>\d{{1,2}}),? (?:(?P<year>\d{{4}}),? )?(?:at )?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))? ?(?P<half>[ap])\.?m\b(?: \((?P<zone>[^)\s]+)\))?",
    re.IGNORECASE,
)
_SLACK = timedelta(minutes=10)


def classify(message: str, *, status: int | None = None) -> VerdictKind | None:
    """What an agent's error message says: a hard wall, a usage limit, a transient error, or none."""
    if UNUSABLE.search(message) or status == 401:
        return "unusable"
    if HARD_WALLS.search(message):
        return "hard-wall"
    if USAGE_LIMITS.search(message):
        return "usage-limit"
    if TRANSIENT.search(message) or status in TRANSIENT_STATUS:
        return "transient"
    return None


def resume_at(message: str, now: datetime) -> datetime | None:
    """The reset time an agent's limit message names (codex "try again at/in", claude "resets").

    Times of day are read in ``now``'s time zone (the agents print local time) unless the
    message names a zone; a time with no date is the next one from a few minutes before ``now``.
    """
    found = _CODEX_IN.search(message)
    if found:
        seconds = 0
        for count, unit in _SPAN_PART.findall(found["span"]):
            unit = unit.lower().rstrip("s") or "s"
            seconds += int(count) * _UNITS.get(unit, 0)
        try:
            return now + timedelta(seconds=seconds) if seconds else None
        except OverflowError:  # "in 9999999999 days": no time a wait could reach
            return None
    found = _CODEX_AT.search(message) or _CLAUDE_RESETS.search(message)
    if found is None:
        return None
    zone = _zone(found.groupdict().get("zone"), now)
    return _wall_time(found, now.astimezone(zone))


def from_epoch(value: object) -> datetime | None:
    """A time given as seconds since the epoch (claude's ``resetsAt``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def iso(moment: datetime) -> str:
    """UTC with milliseconds, as coord records every time."""
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _zone(name: str | None, now: datetime) -> tzinfo:
    if name:
        from zoneinfo import ZoneInfo  # only for a reset time named in a time zone (a few ms)

        try:
            return ZoneInfo(name)
        except (ValueError, KeyError, OSError):  # an unknown zone: the local one then
            pass
    return now.tzinfo or timezone.utc


def _wall_time(found: re.Match[str], now: datetime) -> datetime | None:
    hour, minute = int(found["hour"]), int(found["minute"] or 0)
    if not 1 <= hour <= 12 or minute > 59:  # a 12-hour clock
        return None
    hour = hour % 12 + (12 if found["half"].lower() == "p" else 0)
    try:
        if found["month"] is None:
            moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            return moment + timedelta(days=1) if moment < now - _SLACK else moment
        month = _MONTHS.index(found["month"].lower()[:3]) + 1
        year = int(found["year"] or now.year)
        moment = now.replace(year=year, month=month, day=int(found["day"]), hour=hour, minute=minute)
        moment = moment.replace(second=0, microsecond=0)
        if found["year"] is None and moment < now - timedelta(days=1):
            moment = moment.replace(year=year + 1)
    except ValueError:  # a day the month does not have
        return None
    return moment
