from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
AGENT_COMMAND = f"{sys.executable} {FAKE_AGENT}"

MISSION_YAML = """\
id: demo
name: Demo mission
quality_gates: make test
milestones:
  - {id: M1, name: Foundations}
  - {id: M2, name: API}
"""

TASKS_MD = """\
# Tasks

| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | done | M1 | Scaffold | |
| T-002 | not-started | M1 | Config | T-001 |
| T-003 | not-started | M1 | Parser | T-002 |
| T-004 | not-started | M2 | Endpoints | T-003 |
"""


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a terminal gives it, however the suite was started: a script's background job
    (`make test &`) inherits SIGINT ignored, and so would every agent a test starts, which the
    tests of SIGINT then never see end (each process that handles it gets it back on exec)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own HOME and cwd, and no coord settings from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith(("INVOKE_", "MOSAIC_", "FAKE_AGENT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(home)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small mission: M1 with T-001 done, T-002 next, T-003 after it; M2 with T-004."""
    root = tmp_path / "project"
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".mosaic" / "mission.yaml").write_text(MISSION_YAML)
    (root / "docs" / "TASKS.md").write_text(TASKS_MD)
    return root


def write_guides(root: Path) -> None:
    """The files the prompt points the agent at, where the ``project`` mission names them (its
    protocol moved into the project, as init does): nothing for `status` to warn about."""
    config = root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "protocol_file: .mosaic/PROTOCOL.md\n")
    for name in (".mosaic/PROTOCOL.md", "docs/MISSION-MANIFEST.md", "docs/scratchpads/demo.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("# written\n")


def coord(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real ``mosaic-coord`` executable (``timeout`` only ends a hang: far above any healthy run)."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(BIN / "mosaic-coord"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``condition`` until it holds. ``timeout`` only ends a wait that would never end: it is
    far above what a loaded machine needs, and no test passes or fails by how fast it is met."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


ORCH = Path(".mosaic") / "orchestrator"


def sessions(root: Path) -> list[dict[str, Any]]:
    """The session records of state.json as written (none before the first session)."""
    path = root / ORCH / "state.json"
    if not path.exists():
        return []
    found: list[dict[str, Any]] = json.loads(path.read_text())["sessions"]
    return found


def task_status(root: Path, task_id: str) -> str:
    """The status cell of ``task_id`` in docs/TASKS.md, as written."""
    for line in (root / "docs" / "TASKS.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == task_id:
            return cells[1]
    raise AssertionError(f"{task_id} is not in the tasks file")


def start_coord(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """mosaic-coord in its own process group, as a terminal's foreground job would be."""
    return subprocess.Popen(
        [str(BIN / "mosaic-coord"), *args],
        cwd=root,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
