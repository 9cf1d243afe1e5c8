"""mission.yaml mistakes as a user meets them: the real `mosaic-coord`, one line each, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import coord


def add_lines(project: Path, text: str) -> None:
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + text)


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("command", [["run", "--print-only"], ["run", "--command", "true"], ["status"]])
def test_windows_paths_are_named_at_their_line_and_create_nothing(project: Path, command: list[str]) -> None:
    add_lines(project, "tasks_file: docs\\TASKS.md\norchestrator_dir: C:\\mosaic\\orch\n")
    before = snapshot(project)
    result = coord(*command, cwd=project)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "coord: error: .mosaic/mission.yaml:7: `tasks_file`: `docs\\TASKS.md` has a backslash; "
        "write paths with /, as in docs/TASKS.md",
        "coord: error: .mosaic/mission.yaml:8: `orchestrator_dir`: `C:\\mosaic\\orch` is a Windows path; "
        "write a path relative to the project root, or one starting with /",
    ]
    assert snapshot(project) == before


def test_a_bad_loop_cap_in_mission_yaml_is_one_line_at_its_line(project: Path) -> None:
    add_lines(project, "loop:\n  max_sessions: 0\n  max_hour: 8\n")
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "coord: error: .mosaic/mission.yaml:8: `loop.max_sessions`: expected a whole number of 1 or more, "
        "or `none` for no limit; got `0`",
        "coord: error: .mosaic/mission.yaml:9: `loop.max_hour`: unknown key; did you mean `max_hours`?",
    ]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(["--mission", "{root}"], {}, id="flag"),
        pytest.param(["-i", "{root}"], {}, id="short-flag"),
        pytest.param(["--mission={root}"], {}, id="flag-equals"),
        pytest.param([], {"INVOKE_COORD_MISSION": "{root}"}, id="environment"),
    ],
)
def test_mosaic_coord_reads_the_invoke_yaml_of_the_mission_it_is_pointed_at(
    project: Path, tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    """Run from elsewhere with --mission, it uses that project's invoke.yaml, not none."""
    (project / "invoke.yaml").write_text('coord:\n  command: "my-agent --go"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    filled = [arg.format(root=project) for arg in args]
    result = coord(
        "run", "--print-only", *filled, cwd=elsewhere, env={k: v.format(root=project) for k, v in env.items()}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("command: my-agent --go {prompt}")
