"""A loop's caps: flag over `coord.loop.<key>` over mission.yaml `loop:` over defaults; pause and back-off."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import sessions
from loopkit import agent, loop_record, make_project, run_loop

ALL_DONE = """\
| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | done | M1 | Scaffold | |
"""
MISSION_LOOP = "loop: {max_sessions: 2, max_failures: 5, max_cost_usd: 9, pause: 1m}\n"
CONFIG_LOOP = {"max_sessions": "3", "max_attempts": 7, "pause": "2s"}


def caps_in_force(root: Path, *flags: str) -> dict[str, object]:
    result = run_loop(root, "--command", agent("done"), *flags)
    assert result.returncode == 0, result.stderr
    record = loop_record(root)
    assert record is not None
    return record["caps"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mission", "config", "flags", "expected"),
    [
        pytest.param(
            "", None, (), {"max_sessions": 20, "max_failures": 3, "max_attempts": 3, "pause": 0.0}, id="defaults"
        ),
        pytest.param(
            MISSION_LOOP,
            None,
            (),
            {"max_sessions": 2, "max_failures": 5, "max_cost_usd": 9.0, "pause": 60.0},
            id="mission",
        ),
        pytest.param(
            MISSION_LOOP,
            CONFIG_LOOP,
            (),
            {"max_sessions": 3, "max_attempts": 7, "max_failures": 5, "pause": 2.0},
            id="config",
        ),
        pytest.param(
            MISSION_LOOP,
            CONFIG_LOOP,
            ("--max-sessions", "1", "--pause", "0", "--max-cost", "none", "--max-hours", "1.5"),
            {"max_sessions": 1, "max_attempts": 7, "pause": 0.0, "max_cost_usd": None, "max_hours": 5400.0},
            id="flags",
        ),
    ],
)
def test_caps_come_from_flags_then_config_then_mission_yaml_then_defaults(
    tmp_path: Path, mission: str, config: dict[str, object] | None, flags: tuple[str, ...], expected: dict[str, object]
) -> None:
    root = make_project(tmp_path / "project", extra=mission, tasks=ALL_DONE)
    if config is not None:
        (root / "invoke.yaml").write_text(yaml.safe_dump({"coord": {"loop": config}}))
    caps = caps_in_force(root, *flags)
    for key, value in expected.items():
        assert caps.get(key) == value, key
    assert caps["backoff"] == 0.0  # the tests' --backoff 0


def test_a_cap_from_mission_yaml_stops_the_loop(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra="loop: {max_sessions: 1}\n")
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 4, result.stderr
    assert loop_record(root)["stop_reason"] == "max-sessions"  # type: ignore[index]


def test_a_bad_cap_flag_is_one_error_line_and_starts_nothing(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--max-hours", "soon", "--command", agent("done"))
    assert result.returncode == 1
    assert result.stderr.startswith("coord: error: --max-hours: ")
    assert len(result.stderr.splitlines()) == 1
    assert loop_record(root) is None


def gaps(root: Path) -> list[float]:
    """Seconds from each session's end to the next one's start."""
    found = sessions(root)
    moments = [
        (datetime.fromisoformat(s["started_at"][:-1]), datetime.fromisoformat(s["ended_at"][:-1])) for s in found
    ]
    return [(moments[i + 1][0] - moments[i][1]).total_seconds() for i in range(len(moments) - 1)]


def test_pause_waits_between_sessions(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--pause", "0.6", "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    assert len(sessions(root)) == 3
    assert all(gap >= 0.6 for gap in gaps(root)), gaps(root)
    assert "for the pause between sessions" in result.stderr


def test_backoff_doubles_with_each_failure_in_a_row(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--backoff", "0.4", "--max-failures", "3", "--command", agent("fail"))
    assert result.returncode == 4, result.stderr
    first, second = gaps(root)
    assert first >= 0.4 and second >= 0.8, (first, second)  # at least: a loaded machine only adds to each
    assert "a back-off after 2 failure(s) in a row" in result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("coord: loop ") and "/20: " in line]
    assert ["next after" in line for line in steps] == [True, True, False], steps  # the third stops the loop


def test_no_backoff_after_a_session_that_went_well(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--backoff", "30", "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    assert all(gap < 25 for gap in gaps(root))  # not the back-off's 30 s
