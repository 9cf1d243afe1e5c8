"""The reader of ``claude -p --output-format stream-json --verbose``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mosaic_invoke.agents.limits import HARD_WALLS, Verdict, classify, from_epoch, iso, resume_at
from mosaic_invoke.agents.reader import (
    ERROR_WIDTH,
    JsonReader,
    final,
    get,
    int_of,
    mappings,
    number_of,
    one_line,
    plural,
    text_of,
)

# The input field that says best what a tool call does, by tool name; else its first string.
_TOOL_SUBJECT = {
    "Bash": "command",
    "Read": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "Write": "file_path",
    "NotebookEdit": "notebook_path",
    "Grep": "pattern",
    "Glob": "pattern",
    "WebFetch": "url",
    "WebSearch": "query",
    "Task": "description",
    "Agent": "description",
}


class ClaudeReader(JsonReader):
    """Assistant text, one line per tool call, rate-limit news and the result with turns and cost."""

    output = "claude-stream-json"

    def __init__(self) -> None:
        super().__init__()
        self._result: Mapping[str, Any] | None = None
        self._rejected: Mapping[str, Any] | None = None
        self._api_error: str | None = None
        self._error_kind: str | None = None
        """The ``error`` field of that message (``authentication_failed``, ``rate_limit``, ...)."""
        self._last_text: str | None = None

    def event(self, event: Mapping[str, Any]) -> list[str]:
        kind = event.get("type")
        session_id = text_of(event.get("session_id"))
        if kind == "system" and event.get("subtype") == "init" and session_id:
            self.agent_session_id = session_id  # a resumed run names its new session here
            details = ", ".join(
                f"{label} {value}"
                for label, value in (("model", event.get("model")), ("permissions", event.get("permissionMode")))
                if isinstance(value, str)
            )
            return [f"· session {session_id}" + (f" ({details})" if details else "")]
        if session_id and self.agent_session_id is None:
            self.agent_session_id = session_id
        if kind == "assistant":
            return self._assistant(event)
        if kind == "user":
            return self._tool_errors(event)
        if kind == "rate_limit_event":
            return self._rate_limit(get(event, "rate_limit_info"))
        if kind == "result":
            self._result = event
            return [self._result_line(event)]
        return []

    def _assistant(self, event: Mapping[str, Any]) -> list[str]:
        error = text_of(event.get("error"))
        lines: list[str] = []
        for block in mappings(get(event, "message", "content")):
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                text = block["text"]
                if error:  # an API error dressed as a message: the only place limit texts count
                    self._api_error = text
                    self._error_kind = error
                    lines.append(f"✗ {error}: {one_line(text, ERROR_WIDTH)}")
                else:
                    self._last_text = text
                    lines.extend(line.rstrip() for line in text.strip("\n").splitlines())
            elif block.get("type") == "tool_use":
                lines.append(_tool_line(block))
        return lines

    def _tool_errors(self, event: Mapping[str, Any]) -> list[str]:
        lines = []
        for block in mappings(get(event, "message", "content")):
            if block.get("type") == "tool_result" and block.get("is_error") is True:
                content = block.get("content")
                if isinstance(content, list):
                    content = "\n".join(text_of(b.get("text")) or "" for b in mappings(content))
                lines.append(f"  ✗ {one_line(text_of(content) or 'tool error')}")
        return lines

    def _rate_limit(self, info: object) -> list[str]:
        status = get(info, "status")
        kind = text_of(get(info, "rateLimitType")) or "usage"
        if status == "rejected" and get(info, "isUsingOverage") is not True and isinstance(info, Mapping):
            self._rejected = info
            resets = from_epoch(get(info, "resetsAt"))
            return [f"! {kind} limit reached" + (f", resets {iso(resets)}" if resets else "")]
        if status == "allowed_warning":
            return [f"! nearing the {kind} limit"]
        return []

    def _result_line(self, event: Mapping[str, Any]) -> str:
        failed = event.get("is_error") is True
        subtype = text_of(event.get("subtype")) or "unknown"
        parts = ["error" if failed and subtype == "success" else subtype]
        turns = int_of(event.get("num_turns"))
        if turns is not None:
            parts.append(plural(turns, "turn"))
        cost = number_of(event.get("total_cost_usd"))
        if cost is not None:
            parts.append(f"${cost:.2f}")
        line = f"{'✗' if failed else '✓'} result: {', '.join(parts)}"
        why = _error_text(event) if failed else None
        return f"{line}: {one_line(why, ERROR_WIDTH)}" if why else line

    def telemetry(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        result = self._result or {}
        session_id = self.agent_session_id or text_of(result.get("session_id"))
        if session_id:
            found["agent_session_id"] = session_id
        cost = number_of(result.get("total_cost_usd"))
        if cost is not None:
            found["cost_usd"] = cost
        usage = get(result, "usage")
        counts = {k: int_of(get(usage, k)) for k in ("input_tokens", "cache_creation_input_tokens")}
        read = int_of(get(usage, "cache_read_input_tokens"))
        if any(n is not None for n in (*counts.values(), read)):
            # input_tokens counts every token the model read, cache reads included (as codex does)
            found["input_tokens"] = sum(n or 0 for n in counts.values()) + (read or 0)
        output = int_of(get(usage, "output_tokens"))
        if output is not None:
            found["output_tokens"] = output
        if read is not None:
            found["cache_read_tokens"] = read
        turns = int_of(result.get("num_turns"))
        if turns is not None:
            found["num_turns"] = turns
        subtype = text_of(result.get("subtype"))
        if subtype:
            found["result_subtype"] = subtype
        if isinstance(result.get("is_error"), bool):
            found["is_error"] = result["is_error"]
        message = text_of(result.get("result")) or self._last_text
        if message:
            found["final_message"] = final(message)
        return found

    def verdict(self, now: datetime) -> Verdict | None:
        result = self._result
        if result is not None and result.get("is_error") is False:
            return None
        said = self._api_error or (_error_text(result) if result else None) or ""
        message = one_line(said, ERROR_WIDTH)
        if self._error_kind == "authentication_failed":
            return Verdict("unusable", message or "authentication failed")
        if self._rejected is not None:
            if HARD_WALLS.search(said):
                return Verdict("hard-wall", message)
            resets = from_epoch(self._rejected.get("resetsAt")) or resume_at(said, now)
            return Verdict("usage-limit", message or "usage limit reached", iso(resets) if resets else None)
        status = int_of(get(result, "api_error_status"))
        kind = classify(said, status=status) if said or status else None
        if kind == "usage-limit":
            resets = resume_at(said, now)
            return Verdict(kind, message, iso(resets) if resets else None)
        return Verdict(kind, message) if kind else None


def _tool_line(block: Mapping[str, Any]) -> str:
    name = text_of(block.get("name")) or "tool"
    tool_input = block.get("input")
    subject = get(tool_input, _TOOL_SUBJECT.get(name, ""))
    if not isinstance(subject, str) and isinstance(tool_input, Mapping):
        subject = next((v for v in tool_input.values() if isinstance(v, str) and v.strip()), None)
    return f"→ {name}: {one_line(subject, 120)}" if isinstance(subject, str) and subject.strip() else f"→ {name}"


def _error_text(result: Mapping[str, Any]) -> str | None:
    """What a failed result says: its ``result`` text, else its ``errors``."""
    text = text_of(result.get("result"))
    if text and text.strip():
        return text
    listed = result.get("errors")
    errors = [e for e in listed if isinstance(e, str)] if isinstance(listed, list) else []
    return "; ".join(errors) or None
