"""Time as coord records it: ISO 8601 in UTC with milliseconds, durations for humans."""

from __future__ import annotations

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
