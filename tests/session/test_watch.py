"""_watch.watch on real processes: output as it comes, timeouts, SIGTERM then SIGKILL, signals to coord."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import wait_for

from mosaic_invoke.agents.lines import Lines
from mosaic_invoke.session import watch as _watch
from mosaic_invoke.session.watch import Limits, Watched, watch

FAST = 0.3  # seconds: grace and timeouts small enough for a fast suite
# Where the agent must act within a grace or between lines, the bound is generous: a loaded
# machine may leave a process without the CPU for a while.
GENEROUS = 2.0


class Agent:
    """A Python program as the agent, its output (stdout and stderr) on a pipe, each line kept."""

    def __init__(self, code: str) -> None:
        self.read_end, write_end = os.pipe()
        self.process = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=write_end, stderr=write_end)
        os.close(write_end)
        self.cut = Lines()
        self.lines: list[bytes] = []
        self.heard: Callable[[bytes], None] = lambda line: None
        """Called with each line as it comes."""

    def on_output(self, chunk: bytes) -> None:
        for line in self.cut.feed(chunk):
            self.lines.append(line)
            self.heard(line)

    def watch(self, limits: Limits | None = None, started: Callable[[], None] | None = None) -> Watched:
        watched = watch(self.process, self.read_end, self.on_output, limits or Limits(), started=started)
        last = self.cut.end()
        if last is not None:
            self.lines.append(last)
        return watched

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        os.close(self.read_end)


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.close()


def agent(agents: list[Agent], code: str) -> Agent:
    started = Agent(code)
    agents.append(started)
    return started


def test_lines_come_as_printed_and_a_partial_last_line_is_delivered(agents: list[Agent], tmp_path: Path) -> None:
    seen_one = tmp_path / "seen-one"
    code = (
        "import os, sys, time\n"
        "sys.stdout.write('one\\ntw'); sys.stdout.flush()\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(seen_one)!r}):\n"
        "    if time.monotonic() > deadline: sys.exit(3)  # 'one' never came through\n"
        "    time.sleep(0.01)\n"
        "sys.stdout.write('o\\nlast without newline'); sys.stdout.flush()\n"
    )
    watched = agent(agents, code)
    watched.heard = lambda line: seen_one.touch() if line == b"one" else None  # while the agent waits for it
    assert watched.watch() == Watched(0)
    assert watched.lines == [b"one", b"two", b"last without newline"]


def test_an_exit_code_and_a_signal_death_read_as_a_shell_reads_them(agents: list[Agent]) -> None:
    assert agent(agents, "raise SystemExit(7)").watch() == Watched(7)
    killed = agent(agents, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.watch() == Watched(137)


def ready_agent(agents: list[Agent], tmp_path: Path, code: str) -> Agent:
    """An agent that runs ``code`` and then creates a file: returned once it has (its start-up
    never counts against a limit, however slow the machine)."""
    ready = tmp_path / "ready"
    started = agent(agents, f"{code}\nopen({str(ready)!r}, 'w').close()\nimport time\nwhile True: time.sleep(0.05)\n")
    wait_for(ready.exists)
    return started


def test_a_session_timeout_sends_sigterm_then_sigkill_to_an_agent_that_ignores_sigterm(
    agents: list[Agent], tmp_path: Path
) -> None:
    code = (
        "import signal\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('got SIGTERM, carrying on', flush=True))\n"
        "print('working', flush=True)"
    )
    stubborn = ready_agent(agents, tmp_path, code)
    began = time.monotonic()
    watched = stubborn.watch(Limits(session=FAST, kill_grace=GENEROUS))
    took = time.monotonic() - began
    assert watched == Watched(128 + signal.SIGKILL, timed_out="session")
    assert stubborn.lines == [b"working", b"got SIGTERM, carrying on"]
    assert FAST + GENEROUS <= took < _watch.KILL_GRACE  # killed after this grace, not the default one


def test_an_agent_that_obeys_sigterm_is_not_killed(agents: list[Agent]) -> None:
    watched = agent(agents, "import time; time.sleep(30)").watch(Limits(session=FAST, kill_grace=30))
    assert watched == Watched(128 + signal.SIGTERM, timed_out="session")


def test_the_idle_timeout_counts_from_the_last_line(agents: list[Agent], tmp_path: Path) -> None:
    # Once the watch has begun, a line every 0.05 s for 1.25 s: longer than the idle limit (1 s)
    # in all, never idle for a twentieth of it.
    go = tmp_path / "go"
    chatty = (
        f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "for _ in range(25): print('tick', flush=True); time.sleep(0.05)\n"
    )
    assert agent(agents, chatty).watch(Limits(idle=1.0, kill_grace=FAST), started=go.touch) == Watched(0)
    silent = ready_agent(agents, tmp_path, "print('one line, then nothing', flush=True)")
    assert silent.watch(Limits(idle=FAST, kill_grace=FAST)) == Watched(143, timed_out="idle")
    assert silent.lines == [b"one line, then nothing"]


def test_a_stop_request_ends_the_agent(agents: list[Agent]) -> None:
    asked = [False]
    sleeper = agent(agents, "import time; print('go', flush=True); time.sleep(30)")

    def on_output(chunk: bytes) -> None:
        asked[0] = True

    watched = watch(sleeper.process, sleeper.read_end, on_output, Limits(kill_grace=FAST), lambda: asked[0])
    assert watched == Watched(143, interrupted=True, stopped=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_coord_is_passed_on_to_the_agent(agents: list[Agent], signum: int) -> None:
    sleeper = agent(agents, "import time; print('ready', flush=True); time.sleep(30)")

    def on_output(chunk: bytes) -> None:
        os.kill(os.getpid(), signum)  # to coord: this process

    previous = signal.getsignal(signum)
    watched = watch(sleeper.process, sleeper.read_end, on_output, Limits(kill_grace=FAST))
    assert watched == Watched(143, interrupted=True, signalled=signal.Signals(signum).name)
    assert signal.getsignal(signum) == previous  # coord's own handling is back


def test_sigint_to_coord_alone_reaches_the_agent_after_a_grace(
    agents: list[Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a terminal the agent gets Ctrl-C itself; `kill -INT coord` reaches it only through coord."""
    monkeypatch.setattr(_watch, "INTERRUPT_GRACE", 0.2)
    sleeper = agent(agents, "import time; print('ready', flush=True); time.sleep(30)")
    watched = watch(sleeper.process, sleeper.read_end, lambda _: os.kill(os.getpid(), signal.SIGINT))
    assert watched == Watched(128 + signal.SIGINT, interrupted=True, signalled="SIGINT")


def test_started_is_called_once_the_watch_is_ready(agents: list[Agent]) -> None:
    calls: list[str] = []
    quick = agent(agents, "print('hi')")
    quick.watch(started=lambda: calls.append("started"))
    assert calls == ["started"]


def test_a_child_that_keeps_the_output_open_is_not_waited_for(agents: list[Agent], tmp_path: Path) -> None:
    """The agent exits but left a background child holding the pipe: coord returns anyway,
    with the agent's last words even without a newline."""
    child = tmp_path / "child.pid"
    code = (
        "import subprocess, sys\n"
        "held = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(child)!r}, 'w').write(str(held.pid))\n"
        "sys.stdout.write('bye')\n"
    )
    parent = agent(agents, code)
    try:
        began = time.monotonic()
        assert parent.watch() == Watched(0)
        assert parent.lines == [b"bye"]
        assert time.monotonic() - began < 60  # not the child's 120 s
    finally:
        if child.exists():
            os.kill(int(child.read_text()), signal.SIGKILL)
