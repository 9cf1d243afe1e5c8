"""Mistakes a user makes, tried as a new user would: the real `mosaic-coord`, a clear outcome each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ORCH, TASKS_MD, coord

DONE_TASKS = """\
| id | status | milestone | description |
|----|--------|-----------|-------------|
| T-001 | done | M1 | Scaffold |
"""


def edit_mission(project: Path, old: str, new: str) -> None:
    config = project / ".mosaic" / "mission.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


@pytest.mark.parametrize("command", [["status"], ["run", "--print-only"], ["run"], ["loop"]])
def test_a_misspelt_runtime_is_named_at_its_line_with_the_closest_name(project: Path, command: list[str]) -> None:
    edit_mission(project, "quality_gates: make test\n", "quality_gates: make test\nruntime: claud\n")
    result = coord(*command, cwd=project)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "coord: error: .mosaic/mission.yaml:4: `runtime`: unknown runtime `claud`; did you mean `claude`? "
        "known: claude, codex; fix the name, or add it under `runtimes:`"
    ]
    assert not (project / ORCH / "state.json").exists()


def test_a_runtime_named_in_mission_yaml_may_be_defined_in_the_config(project: Path) -> None:
    edit_mission(project, "quality_gates: make test\n", "quality_gates: make test\nruntime: claud\n")
    (project / "invoke.yaml").write_text("coord:\n  runtimes:\n    claud: [my-agent, '{prompt}']\n")
    assert coord("status", cwd=project).returncode == 0
    preview = coord("run", "--print-only", cwd=project)
    assert preview.stdout.startswith("command: my-agent {prompt}\n"), preview.stderr
    # Another runtime given for the run: the one in mission.yaml is not used, nor judged.
    (project / "invoke.yaml").unlink()
    assert coord("status", cwd=project, env={"INVOKE_COORD_RUNTIME": "codex"}).returncode == 0
    assert coord("run", "--print-only", "--runtime", "codex", cwd=project).returncode == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["stauts"], "No idea what 'stauts' is! Did you mean `status`?", id="command"),
        pytest.param(["status", "--jsno"], "No idea what '--jsno' is! Did you mean `--json`?", id="flag"),
        pytest.param(
            ["loop", "--max-sesions", "3"], "No idea what '--max-sesions' is! Did you mean `--max-sessions`?", id="cap"
        ),
        pytest.param(["xyzzy"], "No idea what 'xyzzy' is! (`mosaic-coord --help`", id="nothing-close"),
    ],
)
def test_a_misspelt_command_or_flag_gets_a_did_you_mean(project: Path, args: list[str], expected: str) -> None:
    result = coord(*args, cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.rstrip().endswith("`mosaic-coord --help <command>` their flags)")


def test_an_unquoted_colon_in_a_value_says_to_quote_it(project: Path) -> None:
    edit_mission(project, "name: Demo mission\n", "name: Calculator: the library   # shown in every prompt\n")
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "coord: error: .mosaic/mission.yaml:2:17: invalid YAML: mapping values are not allowed in this context; "
        'quote the value: name: "Calculator: the library"'
    ]


@pytest.mark.parametrize("word", ["none", "off", "NONE"])
def test_a_variable_turns_off_a_cap_that_invoke_yaml_sets_to_a_number(project: Path, word: str) -> None:
    (project / "docs" / "TASKS.md").write_text(DONE_TASKS)
    (project / "invoke.yaml").write_text("coord:\n  loop:\n    max_sessions: 5\n    max_hours: 8\n    report: true\n")
    env = {
        "INVOKE_COORD_LOOP_MAX_SESSIONS": word,
        "INVOKE_COORD_LOOP_MAX_HOURS": word,
        "INVOKE_COORD_LOOP_REPORT": word,
    }
    result = coord("loop", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert "coord: loop loop-001 started: no session cap, 3 failures in a row, 3 attempts per task, 3 sessions" in (
        result.stderr
    )
    assert not (project / ORCH / "report.html").exists()  # report: off


def test_a_bad_variable_over_a_number_in_invoke_yaml_is_named(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(DONE_TASKS)
    (project / "invoke.yaml").write_text("coord:\n  loop:\n    max_sessions: 5\n    report: false\n")
    result = coord("loop", cwd=project, env={"INVOKE_COORD_LOOP_MAX_SESSIONS": "lots"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "coord: error: INVOKE_COORD_LOOP_MAX_SESSIONS: expected a whole number of 1 or more, "
        "or `none` for no limit; got `lots`"
    ]
    seven = coord("loop", cwd=project, env={"INVOKE_COORD_LOOP_MAX_SESSIONS": "7"})
    assert "coord: loop loop-001 started: at most 7 sessions," in seven.stderr


NO_MILESTONE_COLUMN = """\
# Tasks

| id | status | description |
|----|--------|-------------|
| T-001 | done | Scaffold |
| T-002 | not-started | Config |
"""


@pytest.mark.parametrize("command", [["status"], ["run", "--print-only"], ["loop", "--milestone", "M1"], ["loop"]])
def test_tasks_without_a_milestone_column_under_milestones_are_one_error_everywhere(
    project: Path, command: list[str]
) -> None:
    """Not `M1 ... 0/0` in status while a loop finds no task: every command says what to add."""
    (project / "docs" / "TASKS.md").write_text(NO_MILESTONE_COLUMN)
    result = coord(*command, cwd=project, env={"INVOKE_COORD_LOOP_REPORT": "false"})
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].endswith(
        "docs/TASKS.md:3: no task table has a `milestone` column, while mission.yaml lists milestones (M1, M2); "
        "add a `milestone` column naming each task's milestone, or remove `milestones:` from mission.yaml"
    )
    assert not (project / ORCH / "state.json").exists() or command[0] == "loop"


UNKNOWN_MILESTONE = """\
| id | status | milestone |
|----|--------|-----------|
| T-001 | done | M1 |
| T-009 | not-started | M9 |
"""


@pytest.mark.parametrize("command", [["run"], ["loop"], ["status"]])
def test_a_task_in_an_unknown_milestone_is_an_error_from_run_loop_and_status(project: Path, command: list[str]) -> None:
    (project / "docs" / "TASKS.md").write_text(UNKNOWN_MILESTONE)
    result = coord(*command, cwd=project, env={"INVOKE_COORD_LOOP_REPORT": "false"})
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "docs/TASKS.md:4: `milestone`: `M9` is not a milestone in mission.yaml (task T-009); use one of M1, M2"
    )


def test_failing_gates_before_a_loop_are_said_once_their_output_as_lines(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(TASKS_MD)
    gates = "echo first line; echo second line; exit 1"
    edit_mission(project, "quality_gates: make test\n", f"verify: {{command: '{gates}'}}\n")
    result = coord("loop", cwd=project, env={"INVOKE_COORD_LOOP_REPORT": "false"})
    assert result.returncode == 1
    log = ORCH / "logs" / "loop-gates.verify.log"  # from the project root
    said = (
        f"the gates already fail before any session: `{gates}` failed (exit 1); fix them first, "
        f"or pass --allow-failing-gates; output: {log}"
    )
    assert result.stderr.splitlines()[1:] == [
        "coord: loop loop-001 stopped: gates-failing",
        "  | first line",
        "  | second line",
        "coord: 0 sessions: 0 accepted, 0 rejected, 0 failed; cost $0.00; wall time 0s",
        f"coord: error: the loop stopped: {said}",
    ]
    assert result.stderr.count("| first line") == 1
    status = coord("status", cwd=project).stdout.splitlines()
    at = next(index for index, line in enumerate(status) if line.startswith("loop     loop-001 stopped: gates-failing"))
    assert status[at].startswith(f"loop     loop-001 stopped: gates-failing ({said}), at ")
    assert status[at + 1 : at + 3] == ["           | first line", "           | second line"]
    assert "| first line" not in status[at]  # once, as a line of its own


def test_the_report_page_shows_caps_as_people_write_them(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(DONE_TASKS)
    assert coord("loop", "--max-hours", "90m", "--max-cost", "12.5", cwd=project).returncode == 0
    page = (project / ORCH / "report.html").read_text()
    for cap in ("<code>max_wait</code> 6h", "<code>backoff</code> 30s", "<code>max_hours</code> 1h30m"):
        assert cap in page
    assert "<code>max_cost_usd</code> $12.50" in page
    assert "21600" not in page


@pytest.mark.parametrize(("command", "code"), [(["run"], 3), (["loop"], 3), (["resume"], 3)])
def test_a_lock_from_another_host_gets_the_same_advice_from_run_and_loop(
    project: Path, command: list[str], code: int
) -> None:
    (project / ORCH).mkdir(parents=True)
    lock = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 4242,
        "pid_started_at": 77,
        "started_at": "2026-11-20T10:00:00.000Z",
        "project_path": str(project),
        "task_id": "T-002",
        "host": "build-7",
    }
    (project / ORCH / "session.lock").write_text(json.dumps(lock))
    result = coord(*command, cwd=project, env={"INVOKE_COORD_LOOP_REPORT": "false"})
    assert result.returncode == code
    assert result.stderr.splitlines()[-1] == (
        "coord: error: session sess-001 was started on host build-7 (pid 4242); its liveness cannot be checked "
        "from here: once you know it has ended, run `mosaic-coord resume --force`"
    )
