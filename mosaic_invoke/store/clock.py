"""Time as coord records it: ISO 8601 in UTC with milliseconds, durations for humans."""

from __future__ import annotations

import re
from datetime import datetime, timezone


def format_duration(seconds: int | None) -> str:
    """``45s``, ``3m 5s``, ``2h 7m``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def now_iso() -> str:
    """UTC with milliseconds, as JavaScript's ``Date.toISOString`` writes it."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_at(timestamp: float) -> str:
    """The moment ``timestamp`` (seconds since the epoch) as `now_iso` writes it."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def seconds_between(start: str, end: str) -> int | None:
    """Whole seconds from ``start`` to ``end`` (never negative), or None if either is unreadable."""
    begin, finish = parse_iso(start), parse_iso(end)
    if begin is None or finish is None:
        return None
    return max(0, int((finish - begin).total_seconds()))


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(value: object) -> float | None:
    """Seconds in ``90s``, ``45m``, ``8h``, ``1h30m`` (or a bare number of seconds); None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower().replace(" ", "")
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            return None
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        return float(hours * 3600 + minutes * 60 + secs)
    return seconds if seconds >= 0 else None


def format_span(seconds: float) -> str:
    """A duration as the flags take it: ``1h30m``, ``45m``, ``90s`` -> ``1m30s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"
