"""An agent's output as it comes: the raw stream to its log, the human view to the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from mosaic_invoke.agents import Reader, reader_for
from mosaic_invoke.agents.lines import Lines
from mosaic_invoke.store.files import open_private
from mosaic_invoke.terminal import printable


class Output:
    """Writes what the agent prints to ``log_path`` as it comes, the reader's view of each line
    to ``display``, and reports the agent's session id (``on_session_id``) when an event first
    names it. A line is bounded (`Lines`): the log keeps every byte, the reader a line's start."""

    def __init__(
        self,
        log_path: Path,
        output: str,
        display: IO[str] | None,
        *,
        known_session_id: str | None = None,
        on_session_id: Callable[[str], None] | None = None,
    ) -> None:
        self.log_path = log_path
        self.display = display
        self.reader: Reader = reader_for(output)
        self._known = known_session_id
        self._on_session_id = on_session_id
        self._log: IO[bytes] | None = None
        self._lines = Lines()
        self.log_error: str | None = None

    def __enter__(self) -> Output:
        self._log = open_private(self.log_path)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        last = self._lines.end() if kind is None else None
        if last is not None:  # the agent's last line, without a newline
            self._line(last)
        if self._log is not None:
            self._log.close()
            self._log = None

    def feed(self, chunk: bytes) -> None:
        """What the agent printed since the last call: to the log, then line by line to the reader."""
        if self._log is not None:
            try:
                self._log.write(chunk)
                self._log.flush()
            except OSError as exc:  # a full disk: the session goes on, unlogged from here
                self.log_error = f"{self.log_path}: cannot write the agent's output: {exc.strerror}"
                self._log = None
        for line in self._lines.feed(chunk):
            self._line(line)

    def _line(self, raw: bytes) -> None:
        shown = self.reader.feed(raw.decode("utf-8", "replace"))
        if self.display is not None and shown:
            try:
                self.display.write("".join(f"{printable(text)}\n" for text in shown))
                self.display.flush()
            except OSError:  # the reader went away (`run | head`, a closed terminal): the log goes on
                self.display = None
        found = self.reader.agent_session_id
        if found and found != self._known:
            self._known = found
            if self._on_session_id is not None:
                self._on_session_id(found)
