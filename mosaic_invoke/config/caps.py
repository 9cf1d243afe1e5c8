"""A loop's caps: their keys, defaults, and how a value reads, wherever it was written."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from mosaic_invoke.store.clock import format_span, parse_duration

Cap = int | float | bool | None
"""A cap's value once read: a count, seconds, dollars, a switch; None means no limit."""

OFF = "none"
"""The word that turns a cap off (a pause or back-off: no wait) in flags, config and mission.yaml."""
_OFF_WORDS = (OFF, "off")
"""``off`` does too, in a variable or a flag; YAML reads an unquoted ``off`` as false."""


@dataclass(frozen=True, kw_only=True)
class LoopCaps:
    """What stops a loop and how it paces itself. Every duration is in seconds (``max_hours``
    too); None means no limit."""

    max_sessions: int | None = 20
    max_hours: float | None = None
    max_failures: int | None = 3
    max_attempts: int | None = 3
    max_cost_usd: float | None = None
    session_timeout: float | None = None
    idle_timeout: float | None = None
    pause: float = 0.0
    backoff: float = 30.0
    max_wait: float | None = 6 * 3600.0
    max_idle_sessions: int | None = 3
    """Sessions in a row that made no progress (section 17) before the loop stops."""
    fallback_after: float | None = 15 * 60.0
    """A usage-limit wait longer than this switches to the next of `runtime_fallback`; None: always wait."""
    report: bool = True
    lanes: int = 1
    """Sessions at once, each in a git worktree of its own (SPEC 15); 1: one, in the project itself."""


CAP_KEYS: tuple[str, ...] = tuple(field.name for field in fields(LoopCaps))

_COUNTS = ("max_sessions", "max_failures", "max_attempts", "max_idle_sessions")
_LIMITS = ("session_timeout", "idle_timeout")  # seconds, more than 0
_WAITS = ("pause", "backoff", "max_wait", "fallback_after")  # seconds, 0 allowed
_DURATION_HINT = "a duration such as 90s, 45m, 8h or 1h30m"


def read_cap(key: str, value: object) -> Cap:
    """``value`` (a flag's text, a config or YAML scalar) as cap ``key`` holds it.

    Raises ValueError saying what is wrong, for the caller to prefix with where it was written.
    """
    if key == "lanes":
        return _lanes(value)
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF_WORDS):
        return 0.0 if key in ("pause", "backoff") else (False if key == "report" else None)
    if key == "report":
        return _switch(value)
    if key in _COUNTS:
        return _count(value)
    if key == "max_cost_usd":
        return _positive(_number(value, "an amount in US dollars such as 5 or 12.50"), "an amount")
    if key == "max_hours":
        return _positive(_hours(value), "a time")
    seconds = _seconds(value)
    if key in _LIMITS:
        return _positive(seconds, "a timeout")
    if key in _WAITS:
        return seconds
    msg = f"unknown cap; known: {', '.join(CAP_KEYS)}"
    raise ValueError(msg)


def shown_cap(key: str, value: object) -> str:
    """A cap as loop.json holds it, as people read it: ``6h`` for 21600.0 seconds, ``$12.50``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    if key == "max_hours" or key in _LIMITS or key in _WAITS:
        return format_span(value)
    if key == "max_cost_usd":
        return f"${value:.2f}"
    return f"{value:g}"


def _count(value: object) -> int:
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not text.lstrip("-").isdigit() or int(text) < 1:
        msg = f"expected a whole number of 1 or more, or `{OFF}` for no limit; got {_shown(value)}"
        raise ValueError(msg)
    return int(text)


def _lanes(value: object) -> int:
    try:
        return _count(value)
    except ValueError:
        msg = f"expected a whole number of 1 or more (1: one session at a time); got {_shown(value)}"
        raise ValueError(msg) from None


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        msg = f"expected {what}, or `{OFF}` for no limit; got {_shown(value)}"
        raise ValueError(msg)
    try:
        number = float(str(value).strip().lstrip("$"))
    except ValueError:
        msg = f"expected {what}, or `{OFF}` for no limit; got {_shown(value)}"
        raise ValueError(msg) from None
    return _finite(number, value)


def _hours(value: object) -> float:
    """A bare number counts hours (``8``, ``1.5``); a unit says otherwise (``90m``)."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _is_number(value)):
        return _number(value, "a number of hours") * 3600
    return _seconds(value)


def _seconds(value: object) -> float:
    """A duration (a bare number counts seconds)."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool) and _is_number(str(value)):
        return _finite(float(value), value)
    seconds = parse_duration(value.strip() if isinstance(value, str) else value)
    if seconds is None:
        msg = f"expected {_DURATION_HINT}, or `{OFF}`; got {_shown(value)}"
        raise ValueError(msg)
    return _finite(seconds, value)


def _switch(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    msg = f"expected true or false; got {_shown(value)}"
    raise ValueError(msg)


def _positive(number: float, what: str) -> float:
    if number <= 0:
        msg = f"{what} must be more than 0; write `{OFF}` for no limit"
        raise ValueError(msg)
    return number


def _finite(number: float, value: object) -> float:
    if not math.isfinite(number):
        msg = f"expected a finite number, or `{OFF}` for no limit; got {_shown(value)}"
        raise ValueError(msg)
    if number < 0:
        msg = f"must not be negative; got {_shown(value)}"
        raise ValueError(msg)
    return number


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _shown(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "a list"
    if hasattr(value, "keys"):
        return "a mapping"
    return f"`{value}`"
