"""What the loop tests share: a mission for loops, the stand-in agents, and readers of coord's files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import BIN, TASKS_MD, coord

AGENT = Path(__file__).parent / "agents_for_loop" / "agent.py"
REPLAY = Path(__file__).parent / "streams" / "replay_agent.py"
ORCH = Path(".mosaic") / "orchestrator"
GATE = "cat gate.txt; grep -qx ok gate.txt"

MISSION = """\
id: demo
name: Demo mission
milestones:
  - {id: M1, name: Foundations}
  - {id: M2, name: API}
"""


def agent(mode: str) -> str:
    """The launch command of the stand-in agent in ``mode`` (see its docstring)."""
    return f"{sys.executable} {AGENT} {mode}"


def make_project(root: Path, *, gates: bool = False, git: bool = False, extra: str = "", tasks: str = TASKS_MD) -> Path:
    """A mission whose T-002..T-004 wait to be done; with ``gates``, `verify:` checks gate.txt."""
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    yaml = MISSION + (f"verify: {{command: {GATE!r}}}\n" if gates else "") + extra
    (root / ".mosaic" / "mission.yaml").write_text(yaml)
    (root / "docs" / "TASKS.md").write_text(tasks)
    (root / "gate.txt").write_text("ok\n")
    if git:
        (root / ".gitignore").write_text(".mosaic/orchestrator/\n")
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
            subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=git_env())
    return root


def git_env() -> dict[str, str]:
    names = {"GIT_AUTHOR_NAME": "Test", "GIT_COMMITTER_NAME": "Test"}
    mails = {"GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_EMAIL": "test@example.com"}
    return {**os.environ, **names, **mails}


DEFAULT_REPORT = {"INVOKE_COORD_LOOP_REPORT": ""}
"""An environment that leaves the report page to mission.yaml and the default."""


def loop_env(env: dict[str, str] | None) -> dict[str, str]:
    """The environment loops run in: git's names, and no report page unless ``env`` asks for one
    (writing it after each session costs a process; tests/cli/test_loop_after.py checks it)."""
    return {**git_env(), "INVOKE_COORD_LOOP_REPORT": "false", **(env or {})}


def run_loop(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """``mosaic-coord loop ARGS`` to its end, without back-off unless ``args`` sets one."""
    backoff = () if "--backoff" in args else ("--backoff", "0")
    return coord("loop", *backoff, *args, cwd=root, env=loop_env(env), timeout=timeout)


def start_loop(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``mosaic-coord loop ARGS`` in the background (stdout and stderr piped, text), in a process
    group of its own that its agents share: :func:`end_group` ends them all."""
    backoff = () if "--backoff" in args else ("--backoff", "0")
    process = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "loop", *backoff, *args],
        cwd=root,
        env=loop_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    process.mosaic_root = root  # type: ignore[attr-defined]  # for end_group
    return process


def end_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL a background loop's process group, and the groups of its agents (which lead their
    own away from a terminal): nothing a test started outlives it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    state_file = Path(process.mosaic_root) / ORCH / "state.json"  # type: ignore[attr-defined]
    if state_file.exists():
        for record in json.loads(state_file.read_text()).get("sessions", []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record["pid"], signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    if process.stdout is not None and not process.stdout.closed:
        process.communicate()


def state(root: Path) -> dict[str, Any]:
    return json.loads((root / ORCH / "state.json").read_text())  # type: ignore[no-any-return]


def loop_record(root: Path) -> dict[str, Any] | None:
    """loop.json, or None while it is absent (or being replaced)."""
    try:
        return json.loads((root / ORCH / "loop.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None
