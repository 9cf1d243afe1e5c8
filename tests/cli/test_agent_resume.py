"""Native resume (SPEC section 13): the next session on a cut-off task continues the agent's conversation."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import coord, sessions, start_coord, wait_for

from cli.agent_stand_ins import TIMEOUT_AFTER_SPEAKING, agent_env, launched, set_permissions
from mosaic_invoke.store.liveness import is_alive

STREAM_JSON = ["--output-format", "stream-json", "--verbose"]
RESUMED_ID = "0c6f8a52-5b1e-4d7a-9f3c-2e8b7a1d4c60"  # the new session claude-success.jsonl names
CODEX_THREAD = "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"


def cut_off(project: Path, tmp_path: Path, how: str, runtime: str = "claude") -> dict[str, Any]:
    """A first session on T-002 that ends ``how``; its record."""
    hangs = "claude-2.1.197-not-logged-in.jsonl" if runtime == "claude" else "codex-0.171.0-offline-hangs.jsonl"
    if how == "usage-limit":
        env = agent_env(tmp_path, "claude-usage-limit.jsonl", exit=1, resets_in=60)
        coord("run", "--runtime", runtime, cwd=project, env=env)
    elif how == "timeout":
        timeout = ("--session-timeout", TIMEOUT_AFTER_SPEAKING)
        coord("run", "--runtime", runtime, *timeout, cwd=project, env=agent_env(tmp_path, hangs, hang=1))
    elif how == "completed":
        coord("run", "--runtime", runtime, cwd=project, env=agent_env(tmp_path, f"{runtime}-success.jsonl"))
    else:  # interrupted (coord sent SIGTERM) or crashed (coord and agent killed)
        process = start_coord(project, agent_env(tmp_path, hangs, hang=1), "run", "--runtime", runtime)
        log = project / ".mosaic/orchestrator/logs/sess-001.jsonl"
        try:
            wait_for(lambda: log.exists() and log.stat().st_size > 0)  # the agent is at work
        finally:
            if how == "interrupted":
                process.send_signal(signal.SIGTERM)
            else:
                os.killpg(process.pid, signal.SIGKILL)
                os.killpg(sessions(project)[0]["pid"], signal.SIGKILL)  # the agent leads its own group
            process.communicate(timeout=60)
        wait_for(lambda: not is_alive(sessions(project)[0]["pid"], None))
    first = sessions(project)[0]
    assert first.get("ended_reason", "crashed") == how, first
    assert first["agent_session_id"]
    return first


def next_session(
    project: Path, tmp_path: Path, *args: str, stream: str = "claude-success.jsonl", **settings: object
) -> tuple[subprocess.CompletedProcess[str], list[str], dict[str, Any]]:
    """The next session, with ``args`` to `run` (to `resume` after a crash); its argv and record."""
    command = "resume" if (project / ".mosaic/orchestrator/session.lock").exists() else "run"
    result = coord(command, *args, cwd=project, env=agent_env(tmp_path, stream, **settings))
    argv: list[str] = launched(tmp_path)["argv"]
    return result, argv, sessions(project)[-1]


@pytest.mark.parametrize("how", ["crashed", "interrupted", "timeout", "usage-limit"])
def test_claude_continues_a_cut_off_conversation(project: Path, tmp_path: Path, how: str) -> None:
    first = cut_off(project, tmp_path, how)
    result, argv, second = next_session(project, tmp_path, "--runtime", "claude")
    assert result.returncode == 0, result.stderr
    chosen = first["agent_session_id"]
    assert argv == ["-p", argv[1], *STREAM_JSON, "--resume", chosen, "--permission-mode", "acceptEdits"]
    assert argv[1].startswith("## Continuation Mission") and "- **Next task:** T-002" in argv[1]
    assert (second["task_id"], second["resumed_agent_session"]) == ("T-002", chosen)
    assert second["agent_session_id"] == RESUMED_ID  # a resumed claude names a new session: that one is kept


def test_the_new_id_of_a_resumed_claude_is_recorded_while_it_runs(project: Path, tmp_path: Path) -> None:
    first = cut_off(project, tmp_path, "usage-limit")
    env = agent_env(tmp_path, "claude-success.jsonl", hang=1)
    process = start_coord(project, env, "run", "--runtime", "claude")
    try:
        wait_for(lambda: sessions(project)[-1].get("agent_session_id") == RESUMED_ID)
        running = sessions(project)[-1]
        assert "ended_at" not in running and running["resumed_agent_session"] == first["agent_session_id"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=60)


@pytest.mark.parametrize(
    ("level", "flags"), [("read-only", ["-s", "read-only"]), ("full", ["--dangerously-bypass-approvals-and-sandbox"])]
)
def test_codex_resumes_with_its_options_before_resume(
    project: Path, tmp_path: Path, level: str, flags: list[str]
) -> None:
    set_permissions(project, level)
    first = cut_off(project, tmp_path, "timeout", runtime="codex")
    assert first["agent_session_id"] == CODEX_THREAD
    result, argv, second = next_session(project, tmp_path, "--runtime", "codex", stream="codex-success.jsonl")
    assert result.returncode == 0, result.stderr
    assert argv == ["exec", *flags, "--json", "resume", CODEX_THREAD, argv[-1]]
    assert argv[-1].startswith("## Continuation Mission")
    assert (second["resumed_agent_session"], second["agent_session_id"]) == (CODEX_THREAD, CODEX_THREAD)


@pytest.mark.parametrize(
    ("how", "args"),
    [
        pytest.param("usage-limit", ["--runtime", "claude", "--fresh"], id="fresh-flag"),
        pytest.param("usage-limit", ["--runtime", "claude", "--task", "T-003"], id="another-task"),
        pytest.param("usage-limit", ["--runtime", "codex"], id="another-runtime"),
        pytest.param("completed", ["--runtime", "claude"], id="after-completed"),
    ],
)
def test_a_fresh_conversation_otherwise(project: Path, tmp_path: Path, how: str, args: list[str]) -> None:
    first = cut_off(project, tmp_path, how)
    result, argv, second = next_session(project, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "resume" not in argv and "--resume" not in argv and first["agent_session_id"] not in argv
    assert "resumed_agent_session" not in second
    if "--session-id" in argv:
        assert second["agent_session_id"] == argv[argv.index("--session-id") + 1] != first["agent_session_id"]


def test_a_resume_the_agent_refuses_fails_and_the_next_session_starts_anew(project: Path, tmp_path: Path) -> None:
    first = cut_off(project, tmp_path, "usage-limit")
    result, argv, second = next_session(
        project, tmp_path, "--runtime", "claude", stream="claude-2.1.197-resume-unknown-session.jsonl", exit=1
    )
    assert result.returncode == 1 and "--resume" in argv
    assert (second["ended_reason"], second["resumed_agent_session"]) == ("failed", first["agent_session_id"])
    assert (second["result_subtype"], second["num_turns"], second["is_error"]) == ("error_during_execution", 0, True)
    assert "✗ result: error_during_execution, 0 turns, $0.00: No conversation found with session ID" in result.stdout
    assert (
        f"coord: session sess-002 failed continuing agent session {first['agent_session_id']}; "
        "the next one starts a new conversation"
    ) in result.stderr

    result, argv, third = next_session(project, tmp_path, "--runtime", "claude")
    assert result.returncode == 0, result.stderr
    assert "--resume" not in argv and "--session-id" in argv and "resumed_agent_session" not in third


def test_a_runtime_from_mission_yaml_resumes_with_its_own_form(project: Path, tmp_path: Path) -> None:
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(
        config.read_text()
        + "runtimes:\n"
        + "  claude-opus:\n"
        + '    command: [claude, -p, "{prompt}", --model, opus]\n'
        + "    output: claude-stream-json\n"
        + '    resume: [claude, -p, "{prompt}", --resume, "{agent_session_id}"]\n'
        + "    permissions: read-only\n"
    )
    env = agent_env(tmp_path, "claude-usage-limit.jsonl", exit=1, resets_in=60)
    first = coord("run", "--runtime", "claude-opus", cwd=project, env=env, input="piped\n")
    assert first.returncode == 1, first.stderr
    facts = launched(tmp_path)
    assert facts["argv"] == ["-p", facts["argv"][1], "--model", "opus"]
    assert facts["stdin_devnull"] is True  # claude -p would read coord's piped stdin into the prompt
    (cut,) = sessions(project)
    assert (cut["ended_reason"], cut["agent_session_id"]) == ("usage-limit", "9d2e4b61-7c3a-4f08-b5d1-6a2f0e9c8b17")

    result, argv, second = next_session(project, tmp_path, "--runtime", "claude-opus")
    assert result.returncode == 0, result.stderr
    assert argv == ["-p", argv[1], "--resume", cut["agent_session_id"]]
    assert (second["resumed_agent_session"], second["agent_session_id"]) == (cut["agent_session_id"], RESUMED_ID)
