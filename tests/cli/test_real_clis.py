"""The presets' argv against the real claude and codex CLIs (npm packages, not logged in).

They are installed once into a cache folder outside the repository (set
MOSAIC_INVOKE_NPM_CACHE to choose it); without npm or the registry the tests are skipped.
No credentials reach them: claude gets as far as its "Not logged in" result, codex as far
as `thread.started` (offline it then waits for the network without end, so it is killed).
Both are node programs that start the agent as a child: each launch runs in a process group
of its own, and the whole group is ended, else an orphaned codex keeps its thread locked
("already has an active writer") and a resume of it prints nothing.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import fasteners
import pytest

from mosaic_invoke._agents import reader_for
from mosaic_invoke._runtimes import PERMISSIONS, PROMPT_ARG_LIMIT, Invocation, agent_env, resolve_runtime

PACKAGES = ("@anthropic-ai/claude-code@2.1.197", "@openai/codex@0.171.0")
# Computed before the tests give each its own HOME: the install outlives them.
REAL_HOME = os.environ.get("HOME", "")
CACHE = Path(
    os.environ.get("MOSAIC_INVOKE_NPM_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path(REAL_HOME or "/tmp") / ".cache") / "mosaic-invoke" / "npm"
)
FOLDER = CACHE / "+".join(p.replace("@", "").replace("/", "-") for p in PACKAGES)
CREDENTIALS = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "AWS_", "GOOGLE_", "VERTEX_")
PERMISSION_MODES = {"read-only": "default", "workspace": "acceptEdits", "full": "bypassPermissions"}
PROMPT = "Reply with the word ready."
DEADLINE = 60


@pytest.fixture(scope="module")
def clis() -> dict[str, Path]:
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


def claude_events(
    clis: Mapping[str, Path], project: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> dict[str, list[dict[str, object]]]:
    """Each launch's events to its end: claude exits after its result, and only then has it saved
    the session that a resume continues (killed at the result, the resume finds no conversation)."""
    with started_all(clis["claude"], project, launches) as processes:
        events = {name: lines_until(process, None) for name, process in processes.items()}
        for process in processes.values():
            process.wait()
        return events


def test_claude_presets_parse_fresh_resumed_and_by_stdin(clis: dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    ids = {level: str(uuid.uuid4()) for level in PERMISSIONS}
    runtimes = {level: resolve_runtime("claude", {}, permissions=level) for level in PERMISSIONS}
    fresh = {level: (runtimes[level].invocation(PROMPT, session_uuid=ids[level]), PROMPT) for level in PERMISSIONS}
    long_prompt = PROMPT + " " * PROMPT_ARG_LIMIT
    by_stdin = runtimes["workspace"].invocation(long_prompt, session_uuid=str(uuid.uuid4()))
    assert by_stdin.stdin == "prompt" and long_prompt not in by_stdin.argv
    events = claude_events(clis, project, {**fresh, "stdin": (by_stdin, long_prompt)})
    for name, seen in events.items():
        errors = (project / f"{name}.err").read_text()
        assert seen and seen[-1]["type"] == "result", f"{name}: {errors}"
        reader = reader_for("claude-stream-json")
        for event in seen:
            reader.feed(json.dumps(event))
        assert "Not logged in" in reader.telemetry()["final_message"], errors
        if name in PERMISSION_MODES:
            assert seen[0]["permissionMode"] == PERMISSION_MODES[name]
            assert reader.agent_session_id == ids[name]  # the id coord chose before launch

    resumed = {
        level: (
            runtimes[level].invocation("Go on.", session_uuid=str(uuid.uuid4()), agent_session_id=ids[level]),
            "Go on.",
        )
        for level in PERMISSIONS
    }
    for name, seen in claude_events(clis, project, resumed).items():
        assert seen[0]["type"] == "system" and seen[0]["permissionMode"] == PERMISSION_MODES[name], (
            project / f"{name}.err"
        ).read_text()
        assert seen[-1]["type"] == "result" and "Not logged in" in str(seen[-1]["result"])


def codex_threads(
    clis: Mapping[str, Path], project: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> dict[str, list[dict[str, object]]]:
    """Each launch's events up to `thread.started`, once codex has saved that thread (killed
    sooner, a resume of it finds none, or an empty one). A launch that printed nothing, as codex did once under
    load, is tried once more on its own; its stderr is in ``project/<name>.err``."""
    found = _codex_threads(clis, project, launches)
    again = {name: launches[name] for name, seen in found.items() if not seen}
    for name, launch in again.items():
        found.update(_codex_threads(clis, project, {name: launch}))
    return found


def _codex_threads(
    clis: Mapping[str, Path], project: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> dict[str, list[dict[str, object]]]:
    saved = Path(os.environ["HOME"]) / ".codex" / "sessions"
    found = {}
    with started_all(clis["codex"], project, launches) as processes:
        for name, process in processes.items():
            found[name] = seen = lines_until(process, "thread.started")
            thread = seen[-1].get("thread_id") if seen else None
            if isinstance(thread, str):
                wait_until(functools.partial(thread_saved, saved, thread))
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


def test_codex_presets_parse_fresh_resumed_and_by_stdin(clis: dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    runtimes = {level: resolve_runtime("codex", {}, permissions=level) for level in PERMISSIONS}
    launches = {
        level: (runtimes[level].invocation(PROMPT, session_uuid=str(uuid.uuid4())), PROMPT) for level in PERMISSIONS
    }
    long_prompt = PROMPT + " " * PROMPT_ARG_LIMIT
    by_stdin = runtimes["workspace"].invocation(long_prompt, session_uuid=str(uuid.uuid4()))
    assert by_stdin.argv[-1] == "-" and by_stdin.stdin == "prompt"
    threads = {}
    for name, seen in codex_threads(clis, project, {**launches, "stdin": (by_stdin, long_prompt)}).items():
        assert seen and seen[-1]["type"] == "thread.started", (project / f"{name}.err").read_text()
        threads[name] = str(seen[-1]["thread_id"])
    resumed = {
        level: (
            runtimes[level].invocation("Go on.", session_uuid=str(uuid.uuid4()), agent_session_id=threads[level]),
            "Go on.",
        )
        for level in PERMISSIONS
    }
    for name, seen in codex_threads(clis, project, resumed).items():
        assert seen and seen[-1] == {"type": "thread.started", "thread_id": threads[name]}, (
            project / f"{name}.err"
        ).read_text()
