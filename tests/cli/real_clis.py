"""The real claude and codex CLIs (npm packages, not logged in), and launching them as coord does.

They are installed once into a cache folder outside the repository (set
MOSAIC_INVOKE_NPM_CACHE to choose it); without npm or the registry the tests are skipped.
`codex` is a node launcher that starts the native codex as its child: each launch runs in a
process group of its own, and the whole group is ended, else the orphaned codex keeps its
thread locked ("already has an active writer") and a resume of it prints nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import fasteners
import pytest

from mosaic_invoke.agents.runtimes import Invocation, agent_env

PACKAGES = ("@anthropic-ai/claude-code@2.1.197", "@openai/codex@0.171.0")
# Computed before the tests give each its own HOME: the install outlives them.
REAL_HOME = os.environ.get("HOME", "")
CACHE = Path(
    os.environ.get("MOSAIC_INVOKE_NPM_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path(REAL_HOME or "/tmp") / ".cache") / "mosaic-invoke" / "npm"
)
FOLDER = CACHE / "+".join(p.replace("@", "").replace("/", "-") for p in PACKAGES)
CREDENTIALS = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "AWS_", "GOOGLE_", "VERTEX_")
DEADLINE = 60


def install() -> dict[str, Path]:
    """The real CLIs, installed once into FOLDER; skips the test when npm cannot install them."""
    bins = {name: FOLDER / "node_modules" / ".bin" / name for name in ("claude", "codex")}
    if all(path.exists() for path in bins.values()):
        return bins
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install the real claude and codex CLIs to check the presets")
    FOLDER.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(FOLDER / ".install.lock")):
        if not all(path.exists() for path in bins.values()):
            try:
                installed = subprocess.run(
                    [
                        npm,
                        "install",
                        "--prefix",
                        str(FOLDER),
                        "--no-audit",
                        "--no-fund",
                        "--fetch-retries=0",
                        *PACKAGES,
                    ],
                    env={**os.environ, "HOME": REAL_HOME},
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm install of {' '.join(PACKAGES)} took more than 15 minutes")
            if installed.returncode != 0 or not all(path.exists() for path in bins.values()):
                said = [line for line in installed.stderr.splitlines() if "error" in line.lower()]
                why = " ".join(said[:2]) or "no output"
                pytest.skip(f"npm could not install {' '.join(PACKAGES)} (is the registry reachable?): {why}")
    return bins


def agent_environment() -> dict[str, str]:
    """The agent's environment without any credential: these runs must never reach a model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIALS)}
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env["IS_SANDBOX"] = "1"  # claude refuses --dangerously-skip-permissions as root otherwise
    return agent_env(env)


@contextmanager
def started(launch: Invocation, program: Path, cwd: Path, prompt: str, log: Path) -> Iterator[subprocess.Popen[str]]:
    """The launch as coord starts it: stdin /dev/null (or the prompt), killed after the deadline."""
    stdin_file = cwd / f"{log.stem}.prompt.md"
    stdin_file.write_text(prompt)
    with stdin_file.open() as prompt_in, log.open("w") as errors:
        stdin = prompt_in if launch.stdin == "prompt" else subprocess.DEVNULL
        process = subprocess.Popen(
            [str(program), *launch.argv[1:]],
            cwd=cwd,
            env=agent_environment(),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
        watchdog = threading.Timer(DEADLINE, end_group, (process,))
        watchdog.start()
        try:
            yield process
        finally:
            watchdog.cancel()
            end_group(process)
            if process.stdout is not None:
                process.stdout.close()


def end_group(process: subprocess.Popen[str]) -> None:
    """Kill the launch and every process it started, and wait until all are gone."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def lines_until(process: subprocess.Popen[str], kind: str | None) -> list[dict[str, object]]:
    """Events read until one of type ``kind`` (None: the end of the output)."""
    assert process.stdout is not None
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1].get("type") == kind:
            break
    return events


@contextmanager
def started_all(
    program: Path, cwd: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Launches side by side (claude takes seconds to start); stderr of each in ``cwd/<name>.err``."""
    with ExitStack() as stack:
        processes = {
            name: stack.enter_context(started(launch, program, cwd, prompt, cwd / f"{name}.err"))
            for name, (launch, prompt) in launches.items()
        }
        try:
            yield processes
        finally:
            for process in processes.values():  # all at once; each is then waited for
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def group_members(group: int) -> list[str]:
    """The live processes of process group ``group``: their names."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            raw = stat.read_bytes()
            name, rest = raw[raw.index(b"(") + 1 : raw.rindex(b")")], raw[raw.rindex(b")") + 2 :].split()
            if int(rest[2]) == group and rest[0] not in (b"Z", b"X"):
                found.append(name.decode(errors="replace"))
    return found


def thread_saved(sessions: Path, thread: str) -> bool:
    """Codex has written the thread's first record (an empty rollout cannot be resumed)."""
    for rollout in sessions.glob(f"*/*/*/rollout-*{thread}.jsonl"):
        with suppress(OSError):
            if rollout.read_bytes().endswith(b"\n"):
                return True
    return False


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
