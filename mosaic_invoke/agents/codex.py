"""The reader of ``codex exec --json``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mosaic_invoke.agents.limits import Verdict, classify, iso, resume_at
from mosaic_invoke.agents.reader import ERROR_WIDTH, JsonReader, final, get, int_of, mappings, one_line, plural, text_of

_USAGE = ("input_tokens", "cached_input_tokens", "output_tokens")
_FIELDS = {"input_tokens": "input_tokens", "cached_input_tokens": "cache_read_tokens", "output_tokens": "output_tokens"}


class CodexReader(JsonReader):
    """Agent messages, one line per command, file change or tool call, and each turn's end."""

    output = "codex-json"

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, int] = {}
        self._turn_ended: bool | None = None
        """True after a completed turn, False after a failed one; None before either."""
        self._failures: list[str] = []
        """The error messages since the last completed turn: what a failed session ended on."""
        self._last_message: str | None = None
        self._shown: set[str] = set()
        """The items whose call line is shown."""

    def event(self, event: Mapping[str, Any]) -> list[str]:
        kind = event.get("type")
        if kind == "thread.started":
            thread = text_of(event.get("thread_id"))
            if not thread:
                return []
            self.agent_session_id = thread
            return [f"· session {thread}"]
        if kind == "turn.completed":
            return [self._completed(get(event, "usage"))]
        if kind == "turn.failed":
            message = text_of(get(event, "error", "message")) or "turn failed"
            self._turn_ended = False
            self._failures.append(message)
            return [f"✗ turn failed: {one_line(message, ERROR_WIDTH)}"]
        if kind == "error":
            said = text_of(event.get("message"))
            if said is None:
                return []
            self._failures.append(said)
            return [f"! {one_line(said, ERROR_WIDTH)}"]
        if kind in ("item.started", "item.updated", "item.completed"):
            item = event.get("item")
            return self._item(item, done=kind == "item.completed") if isinstance(item, Mapping) else []
        return []

    def _completed(self, usage: object) -> str:
        self._turn_ended = True
        self._failures.clear()
        counts = {key: int_of(get(usage, key)) for key in _USAGE}
        for key, count in counts.items():
            if count is not None:
                self._usage[key] = self._usage.get(key, 0) + count
        read, cached, written = counts.values()
        parts = [plural(read, "input token") + (f" ({cached:,} cached)" if cached else "")] if read is not None else []
        if written is not None:
            parts.append(plural(written, "output token"))
        return "✓ turn completed" + (f": {', '.join(parts)}" if parts else "")

    def _item(self, item: Mapping[str, Any], *, done: bool) -> list[str]:
        kind = item.get("type")
        item_id = text_of(item.get("id")) or ""
        if kind == "agent_message":
            text = text_of(item.get("text"))
            if not done or not text:
                return []
            self._last_message = text
            return [line.rstrip() for line in text.strip("\n").splitlines()]
        if kind == "error":
            message = text_of(item.get("message"))
            return [f"! {one_line(message)}"] if done and message else []
        lines = []
        call = _call_line(item)
        if call and (not item_id or item_id not in self._shown):  # when it starts, or ends unannounced
            if item_id and not done:
                self._shown.add(item_id)
            lines.append(call)
        if done and kind == "command_execution":
            code = int_of(item.get("exit_code"))
            if code:
                lines.append(f"  ✗ exit {code}")
            elif item.get("status") in ("failed", "declined"):
                lines.append(f"  ✗ {item['status']}")
        elif done and item.get("status") == "failed":
            error = text_of(get(item, "error", "message"))
            lines.append(f"  ✗ {one_line(error or 'failed')}")
        return lines

    def telemetry(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.agent_session_id:
            found["agent_session_id"] = self.agent_session_id
        found.update({_FIELDS[key]: count for key, count in self._usage.items()})
        if self._turn_ended is not None:
            found["is_error"] = not self._turn_ended
        if self._last_message:
            found["final_message"] = final(self._last_message)
        return found

    def verdict(self, now: datetime) -> Verdict | None:
        if not self._failures:
            return None
        message = self._failures[-1]  # what the turn ended on; earlier ones were retried
        kind = classify(message)
        if kind == "usage-limit":
            resets = resume_at(message, now)
            return Verdict(kind, one_line(message, ERROR_WIDTH), iso(resets) if resets else None)
        return Verdict(kind, one_line(message, ERROR_WIDTH)) if kind else None


def _call_line(item: Mapping[str, Any]) -> str | None:
    """One line for a tool call: a command, a file change, an MCP tool, a web search."""
    kind = item.get("type")
    if kind == "command_execution":
        command = text_of(item.get("command"))
        return f"→ shell: {one_line(command, 120)}" if command else "→ shell"
    if kind == "file_change":
        changes = [
            f"{text_of(c.get('path')) or '?'} ({text_of(c.get('kind')) or 'change'})"
            for c in mappings(item.get("changes"))
        ]
        return f"→ edit: {one_line(', '.join(changes), 120)}" if changes else None
    if kind == "mcp_tool_call":
        names = [text_of(item.get(key)) for key in ("server", "tool")]
        return "→ " + ".".join(name for name in names if name) if any(names) else "→ tool"
    if kind == "web_search":
        query = text_of(item.get("query"))
        return f"→ web search: {one_line(query, 120)}" if query else "→ web search"
    return None
