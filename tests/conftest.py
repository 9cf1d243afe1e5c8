from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def coord(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real ``mosaic-coord`` executable."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(BIN / "mosaic-coord"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
