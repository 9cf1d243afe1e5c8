"""Runtime fallback (SPEC section 17) through the real mosaic-coord: a claude-like stand-in that
replays a 5-hour limit or a "not logged in", a codex-like one that does the work, and a loop
that moves from one to the other instead of waiting, and back."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import coord, sessions
from loopkit import AGENT, ORCH, REPLAY, loop_record, make_project, run_loop

# Waits until loop.json says the claude hold has lifted (what the loop judges before a session).
WAIT_FOR_CLAUDE = """\
import json, sys, time
from datetime import datetime
while True:
    held = json.load(open(".mosaic/orchestrator/loop.json")).get("held", {}).get("claude")
    lifts = datetime.fromisoformat(held.replace("Z", "+00:00")).timestamp() if held else 0
    if time.time() >= lifts:
        sys.exit(0)
    time.sleep(0.05)
"""


@pytest.fixture
def agents(tmp_path: Path) -> dict[str, str]:
    """`claude` on PATH replays FAKE_AGENT_STREAM; `codex` marks its task done (after the claude
    hold lifted, with CODEX_WAITS_FOR_CLAUDE) and replays codex's success."""
    folder = tmp_path / "bin"
    folder.mkdir()
    wait = tmp_path / "wait_for_claude.py"
    wait.write_text(WAIT_FOR_CLAUDE)
    scripts = {
        "claude": f'#!/bin/sh\nexec {sys.executable} {REPLAY} "$@"\n',
        "codex": (
            "#!/bin/sh\n"
            f'[ -z "$CODEX_WAITS_FOR_CLAUDE" ] || {sys.executable} {wait}\n'
            f"{sys.executable} {AGENT} done >/dev/null || exit 1\n"
            f'exec {sys.executable} {REPLAY} --stream codex-success.jsonl --exit 0 "$@"\n'
        ),
    }
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def runtimes_of(root: Path) -> list[tuple[str, str | None, str | None]]:
    return [(s["runtime"], s.get("ended_reason"), s.get("verdict")) for s in sessions(root)]


def test_a_five_hour_limit_moves_the_loop_to_the_next_runtime_instead_of_waiting(
    tmp_path: Path, agents: dict[str, str]
) -> None:
    root = make_project(tmp_path / "project", extra="runtime_fallback: [claude, codex]\n")
    env = {**agents, "FAKE_AGENT_STREAM": "claude-usage-limit.jsonl", "FAKE_AGENT_RESETS_IN": str(5 * 3600)}
    result = run_loop(root, env=env)
    assert result.returncode == 0, result.stderr
    assert runtimes_of(root) == [
        ("claude", "usage-limit", "none"),
        ("codex", "completed", "accepted"),
        ("codex", "completed", "accepted"),
        ("codex", "completed", "accepted"),
    ]
    limited, first_codex = sessions(root)[:2]
    assert first_codex["task_id"] == "T-002" and "resumed_agent_session" not in first_codex  # no resume across
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], record["held"], record["runtime"]) == (
        "mission-done",
        {"claude": limited["resume_at"]},
        "codex",
    )
    assert record["attempts"] == {"T-002": 1, "T-003": 1, "T-004": 1}  # the limited session is no attempt
    said = f"coord: loop: claude is held by a usage limit until {limited['resume_at']}; the next session runs on codex"
    assert said in result.stderr
    assert "loop waits" not in result.stderr
    assert "loop 1/20: sess-001 T-002 usage-limit, none ($0.05, next on codex)" in result.stderr


def test_a_limit_that_lifts_sooner_than_fallback_after_is_waited_for(tmp_path: Path, agents: dict[str, str]) -> None:
    root = make_project(tmp_path / "project", extra="runtime_fallback: [claude, codex]\n")
    env = {**agents, "FAKE_AGENT_STREAM": "claude-usage-limit.jsonl", "FAKE_AGENT_RESETS_IN": "3600"}
    result = run_loop(root, "--fallback-after", "2h", "--max-wait", "30m", env=env, timeout=30)
    assert result.returncode == 4, result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], runtimes_of(root)) == ("usage-limit", [("claude", "usage-limit", "none")])


def test_the_loop_goes_back_to_the_first_runtime_once_its_limit_has_lifted(
    tmp_path: Path, agents: dict[str, str]
) -> None:
    root = make_project(tmp_path / "project", extra="runtime_fallback: [claude, codex]\nloop: {fallback_after: 0}\n")
    env = {
        **agents,
        "FAKE_AGENT_STREAM": "claude-usage-limit.jsonl,claude-success.jsonl",
        "FAKE_AGENT_STATE": str(tmp_path / "claude-runs"),
        "FAKE_AGENT_RESETS_IN": "2",  # codex waits until it has lifted
        "CODEX_WAITS_FOR_CLAUDE": "1",
    }
    result = run_loop(root, "--max-sessions", "3", env=env)
    assert result.returncode == 4, result.stderr
    assert [runtime for runtime, _, _ in runtimes_of(root)] == ["claude", "codex", "claude"]
    assert "coord: loop: the next session runs on claude again (codex was standing in)" in result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["held"], record["runtime"]) == ({}, "claude")


def test_an_agent_not_logged_in_moves_the_loop_on_and_with_none_left_stops_it(
    tmp_path: Path, agents: dict[str, str]
) -> None:
    root = make_project(tmp_path / "project", extra="runtime_fallback: [claude, codex]\n")
    env = {**agents, "FAKE_AGENT_STREAM": "claude-2.1.197-not-logged-in.jsonl", "FAKE_AGENT_EXIT": "1"}
    result = run_loop(root, env=env)
    assert result.returncode == 0, result.stderr
    assert runtimes_of(root)[:2] == [("claude", "failed", "none"), ("codex", "completed", "accepted")]
    assert sessions(root)[0]["unusable"]
    record = loop_record(root)
    assert record is not None
    assert record["held"] == {"claude": "unusable"}
    assert "coord: loop: claude cannot work here; the next session runs on codex" in result.stderr
    alone = make_project(tmp_path / "alone", extra="runtime_fallback: [claude]\n")
    stopped = run_loop(alone, env=env)
    assert stopped.returncode == 1, stopped.stderr
    assert (loop_record(alone) or {}).get("stop_reason") == "agent-unusable"
    assert len(sessions(alone)) == 1


def test_a_runtime_whose_program_is_missing_moves_the_loop_on(tmp_path: Path, agents: dict[str, str]) -> None:
    extra = 'runtime: ghost\nruntimes:\n  ghost: [no-such-agent-here, "{prompt}"]\nruntime_fallback: [ghost, codex]\n'
    root = make_project(tmp_path / "project", extra=extra)
    result = run_loop(root, env=agents)
    assert result.returncode == 0, result.stderr
    assert [runtime for runtime, _, _ in runtimes_of(root)] == ["codex", "codex", "codex"]
    assert "coord: loop: ghost cannot work here (cannot start the agent: command `no-such-agent-here` not found" in (
        result.stderr
    )


def test_a_restarted_loop_moves_on_rather_than_wait_for_the_limit_the_last_one_met(
    tmp_path: Path, agents: dict[str, str]
) -> None:
    root = make_project(tmp_path / "project")
    env = {**agents, "FAKE_AGENT_STREAM": "claude-usage-limit.jsonl", "FAKE_AGENT_RESETS_IN": str(5 * 3600)}
    first = run_loop(root, "--max-wait", "30m", env=env)
    assert first.returncode == 4, first.stderr  # no fallback yet: past --max-wait
    config = root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "runtime_fallback: [claude, codex]\n")
    second = run_loop(root, "--max-sessions", "1", env=env)
    assert second.returncode == 4, second.stderr
    assert [runtime for runtime, _, _ in runtimes_of(root)] == ["claude", "codex"]


def test_status_and_the_mission_file_name_an_unknown_fallback_runtime(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra="runtime_fallback: [claude, codx]\n")
    result = coord("status", cwd=root)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "coord: error: .mosaic/mission.yaml:6: `runtime_fallback`: unknown runtime `codx`; did you mean `codex`? "
        "known: claude, codex; fix the name, or add it under `runtimes:`"
    )
    assert not (root / ORCH / "state.json").exists()
