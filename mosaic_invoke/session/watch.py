"""Watching a running agent: its output as it comes, signals, timeouts, a stop request."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mosaic_invoke.session.process import exit_status, leads_group, signal_agent
from mosaic_invoke.session.signals import INTERRUPTS, Signals, listening
from mosaic_invoke.store.clock import now_iso

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
    signalled: str | None = None
    """The first of SIGINT, SIGTERM or SIGHUP that coord itself was sent meanwhile (``SIGTERM``):
    what it watched is interrupted, whatever its exit code, and a loop stops."""
    ended_at: str = field(default="", compare=False)
    """When it exited (the session's end: the gates that follow are not its time)."""


def watch(
    process: subprocess.Popen[bytes],
    output: int | None,
    on_output: Callable[[bytes], None],
    limits: Limits = Limits(),
    stop_requested: Callable[[], bool] | None = None,
    started: Callable[[], None] | None = None,
    *,
    since: int | None = None,
) -> Watched:
    """Follow ``process`` until it exits, passing what it prints on ``output`` (a pipe) to
    ``on_output`` as it comes, in pieces of any size (`Output` cuts them into lines).

    SIGTERM and SIGHUP to coord are passed on to the agent; SIGINT too when the agent has not
    acted on it within a moment (from a terminal it reached the agent already). A timeout or a
    stop request ends the agent: SIGTERM, then SIGKILL after the grace period. ``started`` is
    called once coord listens for signals (it opens the agent's gate). Signals count from the
    ``since``-th coord heard (by default every one since coord began listening: one that came
    while the session was being prepared interrupts the agent at once, never goes unheard).
    """
    with listening() as signals:
        watcher = _Watcher(process, output, on_output, limits, stop_requested, signals, since)
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
        signals: Signals,
        since: int | None,
    ) -> None:
        self.process = process
        self.signals = signals
        self.first_signal = 0 if since is None else since
        self.output = output
        self.on_output = on_output
        self.limits = limits
        self.stop_requested = stop_requested
        self.started = self.last_output = time.monotonic()
        self.ending: str | None = None  # why coord is ending the agent
        self.kill_at: float | None = None
        self.interrupt_at: float | None = None
        self.ended_at = ""

    def run(self) -> Watched:
        selector = selectors.DefaultSelector()
        selector.register(self.signals.fileno(), selectors.EVENT_READ)
        if self.output is not None:
            os.set_blocking(self.output, False)
            selector.register(self.output, selectors.EVENT_READ)
        handled = self.first_signal
        while self.process.poll() is None:
            # Signals first: one noted before the watch began has woken nobody.
            for signum in self.signals.seen[handled:]:
                self._on_signal(signum)
            handled = len(self.signals.seen)
            self._check_deadlines()
            for key, _ in selector.select(self._timeout()):
                if key.fd == self.signals.fileno():
                    self.signals.drain()
                elif not self._read():
                    selector.unregister(key.fd)
        self.ended_at = now_iso()
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
        received = [s for s in self.signals.seen[self.first_signal :] if s in INTERRUPTS]
        signalled = signal.Signals(received[0]).name if received else None
        if self.ending in ("session", "idle"):
            return Watched(code, timed_out=self.ending, signalled=signalled, ended_at=self.ended_at)
        if self.ending == "stop":
            return Watched(code, interrupted=True, stopped=True, signalled=signalled, ended_at=self.ended_at)
        died_of_interrupt = returncode < 0 and -returncode in (signal.SIGINT, signal.SIGTERM)
        interrupted = died_of_interrupt or signalled is not None
        return Watched(code, interrupted=interrupted, signalled=signalled, ended_at=self.ended_at)
