"""An agent's output as it comes: the raw stream to its log, a human view to the terminal."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO


class Output:
    """Writes each raw line to ``log_path`` and the human view of it to ``display``."""

    def __init__(self, log_path: Path, display: IO[str] | None) -> None:
        self.log_path = log_path
        self.display = display
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Output:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def line(self, raw: bytes) -> None:
        if self._log is not None:
            self._log.write(raw + b"\n")
            self._log.flush()
        if self.display is not None:
            self.display.write(raw.decode("utf-8", "replace") + "\n")
            self.display.flush()
