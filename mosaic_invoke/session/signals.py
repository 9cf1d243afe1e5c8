"""coord's one policy for signals, while it follows an agent, runs the gates or waits in a loop.

SIGINT, SIGTERM and SIGHUP ask coord to stop: they are noted, never raised, so that whatever
runs (an agent, the gates) is ended and its session recorded; a loop then stops. SIGUSR1
(sent by `coord.stop`) and SIGCHLD only wake whoever waits, to look again.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import threading
from collections.abc import Iterator
from types import FrameType

INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_WAKERS = (signal.SIGUSR1, signal.SIGCHLD)


class Signals:
    """The signals coord was sent since it began listening, and a file descriptor that becomes
    readable on each (for a selector), so that no wait sleeps through one."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)

    @property
    def interrupted(self) -> bool:
        """SIGINT, SIGTERM or SIGHUP arrived: coord is asked to stop."""
        return any(signum in INTERRUPTS for signum in self.seen)

    def interrupt(self) -> str | None:
        """The name of the first of SIGINT, SIGTERM or SIGHUP that arrived (``SIGINT``), if any."""
        return next((signal.Signals(s).name for s in self.seen if s in INTERRUPTS), None)

    def fileno(self) -> int:
        return self._read

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read, 512):
                pass

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if a signal arrives."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._read, selectors.EVENT_READ)
            selector.select(max(0.0, seconds))
        self.drain()

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if signum in INTERRUPTS:
            self.seen.append(signum)

    def _close(self) -> None:
        os.close(self._read)
        os.close(self._write)


_listening: Signals | None = None


@contextlib.contextmanager
def listening() -> Iterator[Signals]:
    """coord's signal policy for the block; a block inside another shares the outer one.

    Outside the main thread (where Python cannot handle signals) the signals act as before and
    none is ever seen.
    """
    global _listening
    if _listening is not None:
        yield _listening
        return
    signals = Signals()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield signals
        finally:
            signals._close()
        return
    previous = {signum: signal.signal(signum, signals._note) for signum in (*INTERRUPTS, *_WAKERS)}
    previous_wakeup = signal.set_wakeup_fd(signals._write, warn_on_full_buffer=False)
    _listening = signals
    try:
        yield signals
    finally:
        _listening = None
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            # A stop asked for as coord ends must not kill it: SIGUSR1 stays ignored.
            signal.signal(signum, signal.SIG_IGN if signum == signal.SIGUSR1 else handler)
        signals._close()
