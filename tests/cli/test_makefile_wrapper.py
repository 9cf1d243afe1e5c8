"""examples/makefile-wrapper: its documented targets and overrides, run by `make` in a project."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN

REPO = Path(__file__).resolve().parents[2]
TASKS_PY = (
    "from invoke import Collection\nfrom mosaic_invoke import coord\n\nns = Collection()\nns.add_collection(coord)\n"
)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="`make` is not installed here")


def make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *args], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def wrapped(project: Path) -> Path:
    shutil.copy(REPO / "examples" / "makefile-wrapper" / "Makefile", project / "Makefile")
    (project / "tasks.py").write_text(TASKS_PY)
    return project


@pytest.mark.parametrize("coord", [None, "invoke coord.", "mosaic-coord"], ids=["default", "invoke", "explicit"])
def test_status_and_prompt_through_each_documented_coord(wrapped: Path, coord: str | None) -> None:
    override = [f"COORD={coord}"] if coord else []
    status = make(wrapped, "agent-status", *override)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("Demo mission (demo): pending")
    prompt = make(wrapped, "agent-prompt", "TASK=T-003", *override)
    assert prompt.returncode == 0, prompt.stderr
    assert "- **Next task:** T-003" in prompt.stdout


def test_agent_runs_a_session_with_the_runtime_chosen(wrapped: Path) -> None:
    mission = wrapped / ".mosaic" / "mission.yaml"
    mission.write_text(mission.read_text() + f"runtimes:\n  fake: {AGENT_COMMAND}\n")
    result = make(wrapped, "agent", "TASK=T-002", "RUNTIME=fake", "COORD=invoke coord.")
    assert result.returncode == 0, result.stderr
    assert "session sess-001 completed (exit 0" in result.stderr
