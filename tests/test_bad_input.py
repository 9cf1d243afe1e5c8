"""Bad files and folders: one clear error per problem, exit 1, nothing destroyed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import coord


def set_key(project: Path, line: str) -> None:
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + line + "\n")


@pytest.mark.parametrize("command", [["run", "--print-only"], ["run"]])
def test_an_orchestrator_folder_that_cannot_be_made(project: Path, command: list[str]) -> None:
    (project / "blocker").write_text("a file, not a folder")
    set_key(project, "orchestrator_dir: blocker/orch")
    result = coord(*command, cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == "coord: error: blocker/orch: cannot create the orchestrator folder: Not a directory"
    assert (project / "blocker").read_text() == "a file, not a folder"


def test_a_tasks_file_that_is_a_folder(project: Path) -> None:
    set_key(project, "tasks_file: docs")
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == "coord: error: docs: cannot read tasks file: Is a directory"


def test_an_empty_tasks_file_says_what_a_task_table_needs(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text("")
    for command in (["run", "--print-only"], ["status"]):
        result = coord(*command, cwd=project)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "coord: error: docs/TASKS.md: no task table; a task table is a markdown table whose header has "
            "an `id` and a `status` column, e.g. `| id | status |`"
        )


def test_an_empty_state_file_is_corrupt_and_kept(project: Path) -> None:
    """A run, which would write the state, keeps a copy; a preview only reports it."""
    orchestrator = project / ".mosaic" / "orchestrator"
    orchestrator.mkdir(parents=True)
    (orchestrator / "state.json").write_text("")
    preview = coord("run", "--print-only", cwd=project)
    assert preview.returncode == 1
    assert "coord: error: .mosaic/orchestrator/state.json:1: state is not valid JSON" in preview.stderr
    assert not list(orchestrator.glob("state.json.corrupt-*"))
    result = coord("run", "--command", "true", cwd=project)
    assert result.returncode == 1
    assert "coord: error: .mosaic/orchestrator/state.json:1: state is not valid JSON" in result.stderr
    assert "a copy is kept in .mosaic/orchestrator/state.json.corrupt-" in result.stderr
    assert (orchestrator / "state.json").read_text() == ""
    assert not (orchestrator / "session.lock").exists()


def test_a_home_relative_path_for_an_unknown_user_is_kept_as_written(project: Path) -> None:
    set_key(project, "tasks_file: ~no-such-user-xyz/TASKS.md")
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == "coord: error: ~no-such-user-xyz/TASKS.md: tasks file not found"
