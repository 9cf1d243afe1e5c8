"""The tasks file as a user writes it, through the real `mosaic-coord`: what is read, what is
next, what is refused (one `coord: error:` line per problem, nothing changed) and what is warned."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN, coord, wait_for, write_guides

THREE_MILESTONES = """\
id: demo
name: Demo mission
milestones:
  - {id: M1, name: Foundations}
  - {id: M2, name: API}
  - {id: M3, name: Clients}
"""


def write_tasks(project: Path, rows: str, mission: str | None = None) -> Path:
    if mission is not None:
        (project / ".mosaic" / "mission.yaml").write_text(mission)
    path = project / "docs" / "TASKS.md"
    header = "| id | status | milestone | description | depends_on |\n|---|---|---|---|---|\n"
    path.write_text("# Tasks\n\n" + header + rows)
    return path


def snapshot(root: Path) -> dict[Path, bytes]:
    """The input files: all but coord's own folder (where a run takes its lock before reading)."""
    own = root / ".mosaic" / "orchestrator"
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and own not in path.parents}


def status_json(project: Path) -> dict:
    result = coord("status", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(project: Path, *args: str) -> list[str]:
    """Run a command that must fail on its input: exit 1, nothing changed; its stderr lines."""
    before = snapshot(project)
    result = coord(*args, cwd=project)
    assert result.returncode == 1, result.stderr
    assert snapshot(project) == before
    return result.stderr.splitlines()


def test_a_task_run_out_of_order_does_not_stall_the_earlier_milestone(project: Path) -> None:
    write_tasks(
        project,
        "| T-001 | done | M1 | Scaffold | |\n"
        "| T-010 | not-started | M2 | Endpoints | |\n"
        "| T-012 | not-started | M3 | Client | |\n"
        "| T-013 | not-started | M3 | Docs | T-010 |\n",
        THREE_MILESTONES,
    )
    # The agent finishes T-012 and marks it done, as the protocol asks.
    finish = (
        "import pathlib; p = pathlib.Path('docs/TASKS.md'); "
        "p.write_text(p.read_text().replace('| T-012 | in-progress', '| T-012 | done'))"
    )
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(finish)} {{prompt}}"
    result = coord("run", "--task", "T-012", "--command", command, cwd=project)
    assert result.returncode == 0, result.stderr
    view = status_json(project)
    assert [m["id"] for m in view["milestones"] if m["current"]] == ["M3"]
    assert view["next_task"] == "T-010"
    preview = coord("run", "--print-only", "--json", cwd=project)
    assert json.loads(preview.stdout)["capsule"]["next_task"] == "T-010"


def test_the_task_of_the_live_session_is_not_next(project: Path, tmp_path: Path) -> None:
    write_tasks(project, "| T-001 | not-started | M1 | One | |\n| T-002 | not-started | M1 | Two | |\n")
    env = {"FAKE_AGENT_READY": str(tmp_path / "ready"), "FAKE_AGENT_WAIT_FOR": str(tmp_path / "release")}
    running = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", "--task", "T-001", "--command", AGENT_COMMAND],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for((tmp_path / "ready").exists)
        view = status_json(project)
        assert (view["session"]["task_id"], view["next_task"]) == ("T-001", "T-002")
        assert "next     T-002" in coord("status", cwd=project).stdout
    finally:
        (tmp_path / "release").write_text("")
        running.communicate(timeout=60)
    assert running.returncode == 0


def test_a_symlinked_tasks_file_stays_a_link(project: Path) -> None:
    shared = project.parent / "shared"
    shared.mkdir()
    link = project / "docs" / "TASKS.md"
    link.rename(shared / "TASKS.md")
    link.symlink_to(Path("..") / ".." / "shared" / "TASKS.md")
    result = coord("run", "--command", "true", cwd=project)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert "| T-002 | in-progress |" in (shared / "TASKS.md").read_text()
    assert [path.name for path in shared.iterdir()] == ["TASKS.md"]  # no temp file left beside it
    assert [path.name for path in link.parent.iterdir()] == ["TASKS.md"]


def test_a_bom_a_fenced_example_and_a_line_separator_are_read_as_markdown(project: Path) -> None:
    text = (
        "\ufeff| id | status | milestone | description | depends_on |\r\n|---|---|---|---|---|\r\n"
        "| T-001 | done | M1 | Scaffold | |\r\n"
        "| T-002 | not-started | M1 | Parse a\u2028b and c\x85d | T-001 |\r\n"
        "\r\nA task row looks like this:\r\n\r\n"
        "```markdown\r\n| id | status |\r\n|---|---|\r\n| T-001 | someday |\r\n```\r\n"
    )
    tasks = project / "docs" / "TASKS.md"
    tasks.write_bytes(text.encode())
    view = status_json(project)
    assert (view["progress"], view["next_task"]) == ({"done": 1, "total": 2, "pct": 50}, "T-002")
    result = coord("run", "--command", "true", cwd=project)
    assert result.returncode == 0, result.stderr
    assert tasks.read_bytes() == text.replace("| T-002 | not-started |", "| T-002 | in-progress |").encode()


def test_a_table_without_a_status_column_is_named(project: Path) -> None:
    write_guides(project)  # the table's warning alone
    state_table = "| id | state |\n|----|-------|\n| T-001 | done |\n"
    (project / "docs" / "TASKS.md").write_text("# Tasks\n\n" + state_table)
    expected = (
        "coord: error: docs/TASKS.md:3: table has an `id` column but no `status` column; "
        "did you mean `state`? rename it to `status`"
    )
    assert refused(project, "status") == [expected]
    assert refused(project, "run", "--print-only") == [expected]
    tasks = write_tasks(project, "| T-101 | not-started | M1 | Real | |\n")
    tasks.write_text(state_table + "\n" + tasks.read_text())
    result = coord("status", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [expected.replace(":3:", ":1:").replace("error:", "warning:")]


def test_a_milestone_mission_yaml_does_not_list_is_an_error(project: Path) -> None:
    write_tasks(
        project,
        "| T-001 | done | M1 | Scaffold | |\n"
        "| T-002 | not-started | m2 | Config | |\n"
        "| T-003 | not-started | M7 | Parser | |\n",
    )
    expected = [
        "coord: error: docs/TASKS.md:6: `milestone`: `m2` is not a milestone in mission.yaml (task T-002); "
        "did you mean `M2`?",
        "coord: error: docs/TASKS.md:7: `milestone`: `M7` is not a milestone in mission.yaml (task T-003); "
        "use one of M1, M2",
    ]
    assert refused(project, "status") == expected
    assert refused(project, "run", "--print-only") == expected


def test_a_row_missing_a_cell_is_one_error(project: Path) -> None:
    write_tasks(
        project,
        "| T-001 | done | M1 | Scaffold | |\n"
        "| T-002 | not-started | M1 | Config |\n"
        "| T-003 | not-started | M1 | Parser | T-002 |\n",
    )
    assert refused(project, "status") == [
        "coord: error: docs/TASKS.md:6: row has 4 cells but the table header has 5; add or remove `|` so they match"
    ]


@pytest.mark.parametrize("command", [["run", "--print-only"], ["status"]])
def test_a_dependency_cycle_is_named_as_a_cycle(project: Path, command: list[str]) -> None:
    write_tasks(
        project,
        "| T-001 | done | M1 | Scaffold | |\n"
        "| T-002 | not-started | M1 | Config | T-003 |\n"
        "| T-003 | not-started | M1 | Parser | T-002 |\n",
    )
    if command == ["status"]:
        assert status_json(project)["next_task_reason"] == (
            "no runnable task in the tasks file: dependency cycle: T-002 -> T-003 -> T-002"
        )
    else:
        assert refused(project, *command) == [
            "coord: error: no runnable task in the tasks file: dependency cycle: T-002 -> T-003 -> T-002; "
            "pass --task to choose one"
        ]


def test_a_chosen_task_with_open_dependencies_warns_and_runs(project: Path) -> None:
    result = coord("run", "--task", "T-003", "--command", "true", cwd=project)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == ["coord: warning: task T-003 depends on T-002 (not-started), not done; running it as asked"]
    state = json.loads((project / ".mosaic" / "orchestrator" / "state.json").read_text())
    assert [session["task_id"] for session in state["sessions"]] == ["T-003"]


PRIORITIES = """\
# Tasks

| id | status | milestone | priority | depends_on |
|---|---|---|---|---|
| T-001 | done | M1 | | |
| T-002 | not-started | M1 | low | |
| T-003 | not-started | M1 | | |
| T-004 | not-started | M1 | high | T-003 |
| T-005 | not-started | M1 | 1 | |
| T-006 | not-started | M2 | high | |
"""


def test_a_loop_runs_tasks_by_priority_within_the_milestone_order_and_status_shows_it(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(PRIORITIES)
    view = status_json(project)
    assert (view["next_task"], view["next_task_priority"]) == ("T-005", 1)
    assert "next     T-005 (priority high)" in coord("status", cwd=project).stdout
    loop_agent = f"{sys.executable} {Path(__file__).parents[1] / 'agents_for_loop' / 'agent.py'} done"
    result = coord(
        "loop", "--backoff", "0", "--command", loop_agent, cwd=project, env={"INVOKE_COORD_LOOP_REPORT": "false"}
    )
    assert result.returncode == 0, result.stderr
    ran = [
        record["task_id"]
        for record in json.loads((project / ".mosaic/orchestrator/state.json").read_text())["sessions"]
    ]
    # M1 first: T-005 (1) before T-003 (medium, file order), T-004 (high) once T-003 is done,
    # then T-002 (low); then M2.
    assert ran == ["T-005", "T-003", "T-004", "T-002", "T-006"]


def test_a_priority_that_is_neither_word_nor_number_is_refused_with_its_line(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(PRIORITIES.replace("| low |", "| soon |"))
    expected = [
        "coord: error: docs/TASKS.md:6: task T-002 has unknown priority 'soon'; "
        "use high, medium, low or a number (lower runs first)"
    ]
    assert refused(project, "status") == expected
    assert refused(project, "run", "--print-only") == expected
