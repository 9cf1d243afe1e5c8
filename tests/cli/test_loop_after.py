"""What follows a loop's sessions: the after_loop hook, and the report page rewritten after each one."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import wait_for
from loopkit import DEFAULT_REPORT, ORCH, agent, end_group, loop_record, make_project, run_loop, start_loop


def test_after_loop_gets_the_summary_as_json_on_stdin(tmp_path: Path) -> None:
    hooks = "hooks: {after_loop: 'echo the hook speaks; cat > hook.json'}\n"
    root = make_project(tmp_path / "project", extra=hooks)
    result = run_loop(root, "--json", "--max-sessions", "1", "--command", agent("done"))
    assert result.returncode == 4, result.stderr
    given = json.loads((root / "hook.json").read_text())
    assert given == json.loads(result.stdout)  # --json's stdout is the summary alone, the hook's words on stderr
    assert (given["loop_id"], given["stop_reason"], given["sessions"]) == ("loop-001", "max-sessions", ["sess-001"])
    assert (given["accepted"], given["rejected"], given["failures"]) == (1, 0, 0)
    assert isinstance(given["duration_seconds"], int)
    assert "the hook speaks" in result.stderr


def test_a_failing_hook_is_reported_and_changes_no_exit_code(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra="hooks: {after_loop: 'exit 7', after_session: 'exit 8'}\n")
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    assert loop_record(root)["stop_reason"] == "mission-done"  # type: ignore[index]
    assert "warning: hook after_loop (`exit 7`) failed (exit 7); carrying on" in result.stderr
    assert result.stderr.count("hook after_session (`exit 8`) failed") == 3


def test_the_hook_runs_for_a_loop_that_stops_on_an_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra="hooks: {after_loop: 'cat > hook.json'}\n")
    (root / "spoil.sh").write_text("printf '| T-002 | nonsense |\\n' >> docs/TASKS.md\n")  # the tasks file broken
    result = run_loop(root, "--command", f"/bin/sh {root / 'spoil.sh'}")
    assert result.returncode == 1
    assert json.loads((root / "hook.json").read_text())["stop_reason"] == "error"


def test_the_report_page_is_rewritten_after_each_session(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    page = root / ORCH / "report.html"
    env = {"LOOP_AGENT_WAIT_FOR": str(tmp_path / "release-{session}"), **DEFAULT_REPORT}
    loop = start_loop(root, "--command", agent("done"), env=env)
    try:
        for number in (1, 2):
            wait_for(lambda n=number: (loop_record(root) or {}).get("current_session") == f"sess-00{n}")
            if number == 1:
                assert not page.exists()
            else:  # written while session 2 runs: it knows session 1, not yet 2's end
                wait_for(lambda: page.exists() and "sess-001" in page.read_text())
                assert "mission-done" not in page.read_text()
            (tmp_path / f"release-sess-00{number}").touch()
        (tmp_path / "release-sess-003").touch()
        _, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
    finally:
        for number in (1, 2, 3):
            (tmp_path / f"release-sess-00{number}").touch()
        end_group(loop)
    text = page.read_text()
    assert all(f"sess-00{n}" in text for n in (1, 2, 3))
    assert "mission-done" in text


def test_no_report_page_with_report_false(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra="loop: {report: false}\n")
    result = run_loop(root, "--command", agent("done"), env=DEFAULT_REPORT)
    assert result.returncode == 0, result.stderr
    assert loop_record(root)["caps"]["report"] is False  # type: ignore[index]
    assert not (root / ORCH / "report.html").exists()
