"""`coord.logs`: any session's saved output, shown as the live view showed it, raw, or followed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import coord, wait_for

from cli.agent_stand_ins import ORCH, REPLAY_COMMAND, agent_env, ended, sessions


def two_sessions(project: Path, tmp_path: Path) -> tuple[str, str]:
    """A claude session, then a codex one; what each showed live."""
    claude = coord("run", "--runtime", "claude", cwd=project, env=agent_env(tmp_path, "claude-success.jsonl"))
    codex = coord("run", "--runtime", "codex", cwd=project, env=agent_env(tmp_path, "codex-success.jsonl"))
    assert claude.returncode == codex.returncode == 0, claude.stderr + codex.stderr
    return claude.stdout, codex.stdout


def test_any_session_is_shown_as_it_was_live_or_raw(project: Path, tmp_path: Path) -> None:
    claude_view, codex_view = two_sessions(project, tmp_path)
    assert "→ Bash: make test" in claude_view and "→ shell: bash -lc 'make test'" in codex_view

    for args in (["-s", "sess-001"], ["--session", "sess-001"]):
        shown = coord("logs", *args, cwd=project)
        assert (shown.returncode, shown.stdout, shown.stderr) == (0, claude_view, "")
    shown = coord("logs", "--session", "sess-002", cwd=project)
    assert shown.stdout == codex_view

    raw = coord("logs", "--session", "sess-001", "--raw", cwd=project)
    assert raw.stdout == (project / ORCH / "logs" / "sess-001.jsonl").read_text()
    assert all(json.loads(line)["session_id"] for line in raw.stdout.splitlines())


def test_without_a_session_the_newest_is_shown(project: Path, tmp_path: Path) -> None:
    _, codex_view = two_sessions(project, tmp_path)
    shown = coord("logs", cwd=project)
    assert (shown.returncode, shown.stdout) == (0, codex_view), shown.stderr


def test_follow_shows_a_detached_session_until_it_ends(project: Path, tmp_path: Path) -> None:
    env = agent_env(tmp_path, "claude-usage-limit.jsonl", delay=0.1, exit=1, resets_in=600)
    started = coord("run", "--detach", "--runtime", "claude", cwd=project, env=env)
    assert started.returncode == 0, started.stderr
    assert not ended(project)  # still at work: its log is not whole yet
    followed = coord("logs", "--session", "sess-001", "--follow", cwd=project)
    assert followed.returncode == 0, followed.stderr
    assert ended(project)
    shown = followed.stdout.splitlines()
    assert shown[0].startswith("· session ") and "→ Bash: pytest -x tests/test_api.py" in shown
    assert shown[-2] == "✗ result: error, 3 turns, $0.05: You've hit your session limit · resets 3pm (UTC)"
    until = sessions(project)[0]["resume_at"]
    assert shown[-1] == (
        f"coord: session sess-001 hit a usage limit until {until}: You've hit your session limit · resets 3pm (UTC)"
    )
    again = coord("logs", "--session", "sess-001", cwd=project)
    assert again.stdout == followed.stdout  # following missed nothing


def test_follow_of_a_session_that_ended_shows_it_and_returns(project: Path, tmp_path: Path) -> None:
    coord("run", "--runtime", "codex", cwd=project, env=agent_env(tmp_path, "codex-usage-limit-at-time.jsonl"))
    followed = coord("logs", "--session", "sess-001", "--follow", cwd=project)
    assert followed.returncode == 0 and followed.stdout.splitlines()[-1].startswith("✗ turn failed: You've hit")


def test_a_text_runtime_log_is_shown_as_written(project: Path, tmp_path: Path) -> None:
    env = agent_env(tmp_path, "malformed.jsonl")
    result = coord("run", "--command", REPLAY_COMMAND, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    (session,) = sessions(project)
    assert (session["output"], Path(session["log_path"]).name) == ("text", "sess-001.log")
    assert coord("logs", "--session", "sess-001", cwd=project).stdout == Path(session["log_path"]).read_text()


def test_an_unknown_session_names_the_known_ones(project: Path, tmp_path: Path) -> None:
    two_sessions(project, tmp_path)
    result = coord("logs", "--session", "sess-009", cwd=project)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "coord: error: unknown session 'sess-009'; the newest are sess-002, sess-001\n"


def test_a_session_without_a_log_or_whose_log_is_gone(project: Path, tmp_path: Path) -> None:
    two_sessions(project, tmp_path)
    path = project / ORCH / "state.json"
    data = json.loads(path.read_text())
    del data["sessions"][0]["log_path"]  # as a version that kept no log recorded it
    path.write_text(json.dumps(data))
    result = coord("logs", "--session", "sess-001", cwd=project)
    assert result.returncode == 1
    assert result.stderr == (
        "coord: error: session sess-001 kept no log (it ran before coord kept one for every session)\n"
    )
    (project / ORCH / "logs" / "sess-002.jsonl").unlink()
    result = coord("logs", "--session", "sess-002", cwd=project)
    assert result.returncode == 1
    assert (
        result.stderr == "coord: error: .mosaic/orchestrator/logs/sess-002.jsonl: the log of session sess-002 is gone\n"
    )


def test_no_session_yet(project: Path) -> None:
    result = coord("logs", "--session", "sess-001", cwd=project)
    assert (result.returncode, result.stderr) == (1, "coord: error: no session has run yet: there is no log to show\n")


def test_a_running_detached_codex_log_shows_its_thread(project: Path, tmp_path: Path) -> None:
    # The stand-in (an offline codex) works on until the test lets it end: never a race with a timer.
    release = tmp_path / "release"
    env = agent_env(tmp_path, "codex-0.171.0-offline-hangs.jsonl", wait_for=release, exit=1)
    started = coord("run", "--detach", "--runtime", "codex", cwd=project, env=env)
    assert started.returncode == 0, started.stderr
    try:
        log = project / ORCH / "logs" / "sess-001.jsonl"
        wait_for(lambda: b"waiting for network" in log.read_bytes())
        shown = coord("logs", "--session", "sess-001", cwd=project)
        assert shown.stdout.splitlines()[0] == "· session 01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"
        (running,) = sessions(project)  # the supervisor recorded the thread as soon as codex named it
        assert "ended_at" not in running and running["agent_session_id"] == "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"
    finally:
        release.touch()
    wait_for(lambda: ended(project))
    (session,) = sessions(project)
    assert (session["ended_reason"], session["agent_session_id"]) == ("failed", "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8")
    assert coord("logs", cwd=project).stdout == shown.stdout  # the same view once it has ended


def test_a_log_that_shows_nothing_says_so(project: Path) -> None:
    silent = coord("run", "--command", "true", cwd=project)
    assert silent.returncode == 0, silent.stderr
    shown = coord("logs", cwd=project)
    assert (shown.returncode, shown.stdout) == (0, "")
    log = project / ORCH / "logs" / "sess-001.log"
    assert (
        shown.stderr
        == "coord: session sess-001 printed nothing (its log, .mosaic/orchestrator/logs/sess-001.log, is empty)\n"
    )

    # A session whose events all have no line in the compact view: --raw shows them.
    state = project / ORCH / "state.json"
    state.write_text(state.read_text().replace('"output":"text"', '"output":"claude-stream-json"'))
    log.write_text('{"type":"rate_limit_event"}\n')
    quiet = coord("logs", cwd=project)
    assert (quiet.returncode, quiet.stdout) == (0, "")
    assert quiet.stderr == "coord: nothing in the log of session sess-001 has a line in this view; --raw shows it all\n"
    assert coord("logs", "--raw", cwd=project).stdout == '{"type":"rate_limit_event"}\n'


def test_follow_ends_with_how_the_session_ended_and_its_verdict(project: Path) -> None:
    """A detached session's end is said once followed: how it ended, and the harness's verdict."""
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "verify: {command: 'echo broken; exit 1'}\n")
    done = f"{sys.executable} {Path(__file__).resolve().parents[1] / 'done_agent.py'}"
    started = coord("run", "--detach", "--command", done, cwd=project, env={"DONE_AGENT_SLEEP": "0.5"})
    assert started.returncode == 0, started.stderr
    followed = coord("logs", "--follow", cwd=project, timeout=30)
    assert followed.returncode == 0, followed.stderr
    assert "marked T-002 done" in followed.stdout
    (session,) = sessions(project)
    assert followed.stderr.splitlines()[-1] == (
        f"coord: session sess-001 completed (exit 0, {session['duration_seconds']}s), rejected: "
        f"{session['rejected_because']}"
    )
    assert session["rejected_because"] == "`echo broken; exit 1` failed (exit 1)"
