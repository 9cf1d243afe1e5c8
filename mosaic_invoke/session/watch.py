"""Watching a running agent: its output as it comes, signals, timeouts, a stop request."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

from mosaic_invoke.session.process import exit_status, leads_group, signal_agent

KILL_GRACE = 10.0
"""Seconds between SIGTERM and SIGKILL when coord ends an agent."""
INTERRUPT_GRACE = 2.0
"""Seconds for an agent to act on a Ctrl-C from the terminal before coord passes it on."""
_TICK = 1.0


@dataclass(frozen=True)
class Limits:
    """When coord ends an agent: after ``session`` seconds in all, or ``idle`` seconds without output."""

    session: float | None = None
    idle: float | None = None
    kill_grace: float = KILL_GRACE


@dataclass(frozen=True)
class Watched:
    """How the agent ended."""

    exit_code: int
    interrupted: bool = False
    timed_out: str | None = None
    """``session`` or ``idle`` when coord ended it for running too long."""
    stopped: bool = False
    """coord ended it because a stop was asked for (``coord.stop --now``)."""
    signalled: bool = False
    """coord itself was sent SIGINT, SIGTERM or SIGHUP meanwhile (a loop then stops)."""


def watch(
    process: subprocess.Popen[bytes],
    output: int | None,
    on_output: Callable[[bytes], None],
    limits: Limits = Limits(),
    stop_requested: Callable[[], bool] | None = None,
    started: Callable[[], None] | None = None,
) -> Watched:
    """Follow ``process`` until it exits, passing what it prints on ``output`` (a pipe) to
    ``on_output`` as it comes, in pieces of any size (`Output` cuts them into lines).

    SIGTERM and SIGHUP to coord are passed on to the agent; SIGINT too when the agent has not
    acted on it within a moment (from a terminal it reached the agent already). A timeout or a
    stop request ends the agent: SIGTERM, then SIGKILL after the grace period. ``started`` is
    called once the signal handlers are in place (it opens the agent's gate).
    """
    watcher = _Watcher(process, output, on_output, limits, stop_requested)
    with watcher.signals():
        if started is not None:
            started()
        watcher.started = watcher.last_output = time.monotonic()
        return watcher.run()


class _Watcher:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        output: int | None,
        on_output: Callable[[bytes], None],
        limits: Limits,
        stop_requested: Callable[[], bool] | None,
    ) -> None:
        self.process = process
        self.output = output
        self.on_output = on_output
        self.limits = limits
        self.stop_requested = stop_requested
        self.started = self.last_output = time.monotonic()
        self.signals_seen: list[int] = []
        self.ending: str | None = None  # why coord is ending the agent
        self.kill_at: float | None = None
        self.interrupt_at: float | None = None

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        os.set_blocking(wake_read, False)
        self.wake = wake_read

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if signum != signal.SIGCHLD:
                self.signals_seen.append(signum)

        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)
        previous = {signum: signal.signal(signum, on_signal) for signum in handled}
        previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(wake_read)
            os.close(wake_write)

    def run(self) -> Watched:
        selector = selectors.DefaultSelector()
        selector.register(self.wake, selectors.EVENT_READ)
        if self.output is not None:
            os.set_blocking(self.output, False)
            selector.register(self.output, selectors.EVENT_READ)
        handled_signals = 0
        while self.process.poll() is None:
            for key, _ in selector.select(self._timeout()):
                if key.fd == self.wake:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake, 512)
                elif not self._read():
                    selector.unregister(key.fd)
            for signum in self.signals_seen[handled_signals:]:
                self._on_signal(signum)
            handled_signals = len(self.signals_seen)
            self._check_deadlines()
        if self.output is not None:
            self._drain()
        selector.close()
        return self._result()

    def _timeout(self) -> float:
        now = time.monotonic()
        deadlines = [now + _TICK]
        for moment in (self.kill_at, self.interrupt_at, *self._limit_deadlines()):
            if moment is not None:
                deadlines.append(moment)
        return max(0.0, min(deadlines) - now)

    def _limit_deadlines(self) -> tuple[float | None, float | None]:
        session = self.started + self.limits.session if self.limits.session is not None else None
        idle = self.last_output + self.limits.idle if self.limits.idle is not None else None
        return session, idle

    def _read(self) -> bool:
        """Pass on what the agent printed; False at end of output."""
        try:
            chunk = os.read(self.output or 0, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        self.last_output = time.monotonic()
        self.on_output(chunk)
        return True

    def _drain(self) -> None:
        """What the agent printed just before it exited (a child holding the pipe is not waited for)."""
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                if not self._read_blocking(deadline - time.monotonic()):
                    return
            except OSError:
                return

    def _read_blocking(self, timeout: float) -> bool:
        with selectors.DefaultSelector() as selector:
            selector.register(self.output or 0, selectors.EVENT_READ)
            if not selector.select(max(0.0, timeout)):
                return False
        return self._read()

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGINT and not leads_group(self.process):
            # From a terminal the agent has it already; from `kill -INT coord` it has not.
            self.interrupt_at = self.interrupt_at or time.monotonic() + INTERRUPT_GRACE
        elif signum == signal.SIGINT:
            signal_agent(self.process, signal.SIGINT)  # in a group of its own, no terminal reaches it
            self.kill_at = self.kill_at or time.monotonic() + self.limits.kill_grace
        else:
            signal_agent(self.process, signal.SIGTERM)
            self.kill_at = self.kill_at or time.monotonic() + self.limits.kill_grace

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        if self.interrupt_at is not None and now >= self.interrupt_at:
            self.interrupt_at = None
            signal_agent(self.process, signal.SIGINT)
            self.kill_at = self.kill_at or now + self.limits.kill_grace
        if self.kill_at is not None and now >= self.kill_at:
            signal_agent(self.process, signal.SIGKILL)
            self.kill_at = None
        if self.ending is not None:
            return
        session, idle = self._limit_deadlines()
        if session is not None and now >= session:
            self._end("session")
        elif idle is not None and now >= idle:
            self._end("idle")
        elif self.stop_requested is not None and self.stop_requested():
            self._end("stop")

    def _end(self, why: str) -> None:
        self.ending = why
        signal_agent(self.process, signal.SIGTERM)
        self.kill_at = time.monotonic() + self.limits.kill_grace

    def _result(self) -> Watched:
        returncode = self.process.returncode
        code = exit_status(returncode)
        signalled = bool(self.signals_seen)
        if self.ending in ("session", "idle"):
            return Watched(code, timed_out=self.ending, signalled=signalled)
        if self.ending == "stop":
            return Watched(code, interrupted=True, stopped=True, signalled=signalled)
        interrupts = (signal.SIGINT, signal.SIGTERM)
        died_of_interrupt = returncode < 0 and -returncode in interrupts
        interrupted = died_of_interrupt or (code != 0 and any(s in interrupts for s in self.signals_seen))
        return Watched(code, interrupted=interrupted, signalled=signalled)
