"""Bad files and folders: one clear error per problem, exit 1, nothing destroyed."""

from __future__ import annotations

import json
import os
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


ORCH = Path(".mosaic") / "orchestrator"
HUGE = "9" * 5000
EVERY_COMMAND = [
    ["status"],
    ["run", "--command", "true"],
    ["resume", "--command", "true"],
    ["report"],
    ["logs"],
    ["loop", "--max-sessions", "1", "--command", "true"],
    ["stop"],
]
_STARTED = '"started_at": "2026-11-20T10:00:00.000Z"'
PLANTED = {
    "session.lock": f'{{"session_id": "sess-001", "runtime": "claude", "pid": {HUGE}, {_STARTED}, "project_path": "/x"}}',
    "state.json": (
        f'{{"version": 1, "mission_id": "demo", "sessions": [\n'
        f'  {{"session_id": "sess-001", "runtime": "claude", "pid": {HUGE}, {_STARTED}}}\n]}}\n'
    ),
    "loop.json": f'{{"loop_id": "loop-001", "pid": 1, "host": "here", {_STARTED}, "cost_usd": {HUGE}}}',
}
SAID = {
    "session.lock": "coord: warning: .mosaic/orchestrator/session.lock:1: lock is not valid JSON "
    "(a number of 5,000 digits; the most is 4,300); treated as absent",
    "state.json": "coord: error: .mosaic/orchestrator/state.json:2: state is not valid JSON "
    "(a number of 5,000 digits; the most is 4,300)",
    "loop.json": "coord: warning: .mosaic/orchestrator/loop.json:1: the loop record is not valid JSON "
    "(a number of 5,000 digits; the most is 4,300); treated as absent",
}


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda argv: argv[0])
@pytest.mark.parametrize("name", list(PLANTED))
def test_a_number_of_5000_digits_is_named_never_a_traceback(project: Path, name: str, command: list[str]) -> None:
    (project / ORCH).mkdir(parents=True)
    (project / ORCH / name).write_text(PLANTED[name])
    result = coord(*command, cwd=project)
    assert "Traceback" not in result.stderr
    assert all(line.startswith("coord: ") for line in result.stderr.splitlines()), result.stderr
    assert result.returncode in (0, 1, 4), result.stderr
    if command == ["status"]:
        assert SAID[name] in result.stderr
        assert result.returncode == (1 if name == "state.json" else 0)


def test_infinity_in_the_state_is_named_by_every_command_and_the_report_leaves_it_out(project: Path) -> None:
    assert coord("run", "--command", "true", cwd=project).returncode == 0
    path = project / ORCH / "state.json"
    state = json.loads(path.read_text())
    state["sessions"][0]["duration_seconds"] = "INFINITY"
    path.write_text(json.dumps(state, indent=2).replace('"INFINITY"', "Infinity"))
    for command in EVERY_COMMAND:
        result = coord(*command, cwd=project)
        assert "Traceback" not in result.stderr, command
        if command[0] == "report":
            assert result.returncode == 0, result.stderr
            assert "∞" not in (project / ORCH / "report.html").read_text()
        elif command[0] != "stop":
            assert result.returncode == 1, (command, result.stderr)
            assert result.stderr.strip() == (
                "coord: error: .mosaic/orchestrator/state.json: sessions[0]: state is corrupt: "
                "`duration_seconds` must be an integer; fix it by hand (coord never overwrites it)"
            )


def test_a_tasks_file_that_never_ends_or_is_too_large_is_refused(project: Path) -> None:
    set_key(project, "tasks_file: /dev/zero")
    for command in (["status"], ["run", "--print-only"]):
        result = coord(*command, cwd=project)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "coord: error: /dev/zero: tasks file is not a regular file; "
            "point mission.yaml's `tasks_file` at a markdown file"
        )
    huge = project / "docs" / "HUGE.md"
    with huge.open("wb") as file:
        file.truncate(65 << 20)  # sparse: no disk spent
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text().replace("/dev/zero", "docs/HUGE.md"))
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "coord: error: docs/HUGE.md: tasks file is larger than 64 MiB, more than coord reads; make it smaller"
    )
    fifo = project / "docs" / "PIPE.md"
    os.mkfifo(fifo)  # opened to read, a pipe waits for a writer that never comes
    config.write_text(config.read_text().replace("docs/HUGE.md", "docs/PIPE.md"))
    result = coord("status", cwd=project, timeout=30)
    assert result.returncode == 1
    assert "coord: error: docs/PIPE.md: tasks file is not a regular file" in result.stderr


def test_yaml_merge_keys_are_read_as_yaml_loaders_read_them(project: Path) -> None:
    (project / ".mosaic" / "mission.yaml").write_text(
        "id: demo\n"
        "name: Demo mission\n"
        "milestones:\n"
        "  - &first {id: M1, name: Foundations, status: in-progress}\n"
        "  - {<<: *first, id: M2, name: API}\n"
        "  - <<: [{id: M3, name: Later}, *first]\n"
        "    name: Last\n"
        "  - <<: [{id: M4, name: Fourth}, *first]\n"
    )
    result = coord("status", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    milestones = json.loads(result.stdout)["milestones"]
    assert [(m["id"], m["name"], m["status"]) for m in milestones] == [
        ("M1", "Foundations", "in-progress"),
        ("M2", "API", "in-progress"),
        ("M3", "Last", "in-progress"),
        ("M4", "Fourth", "in-progress"),  # of merged mappings, the first one's keys win
    ]


def test_20k_milestones_take_a_time_linear_in_them(tmp_path: Path) -> None:
    """Each command looks at each milestone and task a few times, not once per other one (which
    took run --print-only over 60 s at 20k milestones)."""
    root = tmp_path / "big"
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    count = 20_000
    (root / ".mosaic" / "mission.yaml").write_text(
        "id: demo\nname: Big\nmilestones:\n" + "".join(f"  - {{id: M{i}, name: Step {i}}}\n" for i in range(count))
    )
    rows = "".join(f"| T-{i} | {'done' if i < count - 1 else 'not-started'} | M{i} |\n" for i in range(count))
    (root / "docs" / "TASKS.md").write_text("| id | status | milestone |\n|---|---|---|\n" + rows)
    for command in (["run", "--print-only"], ["status"], ["report"]):
        result = coord(*command, cwd=root, timeout=60)  # a guard against a hang, no speed goal
        assert result.returncode == 0, result.stderr
    assert f"**Next task:** T-{count - 1}" in coord("run", "--print-only", cwd=root, timeout=60).stdout
