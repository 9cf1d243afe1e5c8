"""The output formats a runtime may declare, and the reader of each."""

from __future__ import annotations

from mosaic_invoke.agents.claude import ClaudeReader
from mosaic_invoke.agents.codex import CodexReader
from mosaic_invoke.agents.reader import Reader

_READERS: dict[str, type[Reader]] = {
    "text": Reader,
    "claude-stream-json": ClaudeReader,
    "codex-json": CodexReader,
}


def reader_for(output: str) -> Reader:
    """A fresh reader for a runtime's ``output`` (one of ``_runtimes.OUTPUTS``)."""
    try:
        return _READERS[output]()
    except KeyError:
        msg = f"no reader for output {output!r}"
        raise ValueError(msg) from None


def log_suffix(output: str) -> str:
    """The saved log's suffix: ``.jsonl`` for event streams, ``.log`` for text."""
    return ".log" if output == "text" else ".jsonl"
