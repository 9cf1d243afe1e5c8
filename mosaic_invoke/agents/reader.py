"""What every reader does: take the agent's output line by line, show it, keep what it reported."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mosaic_invoke.agents.limits import Verdict

FINAL_MESSAGE_CHARS = 4000
_WIDTH = 160
ERROR_WIDTH = 400
_COUNT_LIMIT = 1 << 63
"""Errors are shown longer than other lines: their end often says when to try again."""


class Reader:
    """The text reader: lines pass through; it learns no telemetry and gives no verdict."""

    output = "text"

    def __init__(self) -> None:
        self.agent_session_id: str | None = None
        """The agent's own session id, as soon as an event names it."""

    def feed(self, line: str) -> list[str]:
        """The lines of the human view for one line of the agent's output."""
        return [line.rstrip("\r\n")]

    def telemetry(self) -> dict[str, Any]:
        """The session record's fields the agent reported (those it did not are left out)."""
        return {}

    def verdict(self, now: datetime) -> Verdict | None:
        """A usage limit, hard wall or transient error the session ended on; ``now`` dates
        relative reset times. Judge only sessions that ended by themselves (never a timeout)."""
        return None


class JsonReader(Reader):
    """A reader of one JSON event per line; anything else on a line is shown as text."""

    output = "json"

    def feed(self, line: str) -> list[str]:
        text = line.rstrip("\r\n")
        if not text.strip():
            return []
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            return [text]
        if not isinstance(event, dict):
            return [text]
        return self.event(event)

    def event(self, event: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError


def get(value: object, *keys: str) -> object:
    """``value[key1][key2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text_of(value: object) -> str | None:
    return value if isinstance(value, str) else None


def int_of(value: object) -> int | None:
    """A count: a whole number of 64 bits at most (summed over sessions, a larger one would
    outgrow what JSON readers convert), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -_COUNT_LIMIT < value < _COUNT_LIMIT:
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def number_of(value: object) -> float | None:
    """An amount (a cost): finite and within a count's bounds (a longer integer has no float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -_COUNT_LIMIT < value < _COUNT_LIMIT:
        return None
    return float(value)


def mappings(value: object) -> list[Mapping[str, Any]]:
    """The mappings in a list (content blocks, changes), skipping anything else."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def one_line(text: str, width: int = _WIDTH) -> str:
    """The first non-blank line of ``text``, cut to ``width`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def final(text: str) -> str:
    return text[:FINAL_MESSAGE_CHARS]


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"
