"""Sessions of the built-in presets through the real mosaic-coord, with stand-in agents on PATH."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from pathlib import Path

import pytest
from conftest import coord, sessions, start_coord, task_status, wait_for

from cli.agent_stand_ins import (
    ORCH,
    REPLAY_COMMAND,
    STREAMS,
    agent_env,
    ended,
    launched,
    set_permissions,
)
from mosaic_invoke.store.liveness import is_alive

STREAM_JSON = ["--output-format", "stream-json", "--verbose"]
CODEX_THREAD = "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"  # in codex-0.171.0-offline-hangs.jsonl
SUCCESS_FIELDS = {
    "ended_reason": "completed",
    "output": "claude-stream-json",
    "cost_usd": 0.4213,
    "input_tokens": 159200,  # input, cache creation and cache reads: every token the model read
    "output_tokens": 3400,
    "cache_read_tokens": 150000,
    "num_turns": 12,
    "result_subtype": "success",
    "is_error": False,
}


@pytest.mark.parametrize(
    ("level", "flags"),
    [
        pytest.param("read-only", [], id="read-only"),
        pytest.param("workspace", ["--permission-mode", "acceptEdits"], id="workspace"),
        pytest.param("full", ["--dangerously-skip-permissions"], id="full"),
    ],
)
def test_a_claude_session_records_what_the_agent_reported(
    project: Path, tmp_path: Path, level: str, flags: list[str]
) -> None:
    set_permissions(project, level)
    env = {**agent_env(tmp_path, "claude-success.jsonl"), "CLAUDECODE": "1"}
    result = coord("run", "--runtime", "claude", cwd=project, env=env)
    assert result.returncode == 0, result.stderr

    facts = launched(tmp_path)
    argv = facts["argv"]
    chosen = argv[argv.index("--session-id") + 1]
    assert uuid.UUID(chosen).version == 4
    assert argv == ["-p", argv[1], *STREAM_JSON, "--session-id", chosen, *flags]
    assert argv[1].startswith("## Continuation Mission") and "- **Next task:** T-002" in argv[1]
    assert facts["stdin_devnull"] is True
    assert "CLAUDECODE" not in facts["env"] and facts["env"]["MOSAIC_SESSION_ID"] == "sess-001"

    (session,) = sessions(project)
    assert {key: session.get(key) for key in SUCCESS_FIELDS} == SUCCESS_FIELDS
    assert session["agent_session_id"] == chosen
    assert session["final_message"].startswith("The tests pass now.") and "docs/TASKS.md." in session["final_message"]
    assert "resumed_agent_session" not in session and "resume_at" not in session and "transient" not in session

    shown = result.stdout.splitlines()
    assert not [line for line in shown if line.lstrip().startswith(("{", "["))]  # never raw JSON
    assert shown[0] == f"· session {chosen} (model claude-sonnet-4-5, permissions acceptEdits)"
    assert "→ Bash: make test" in shown and "→ Edit: /work/project/src/limits.py" in shown
    assert shown[-1] == "✓ result: success, 12 turns, $0.42"

    log = project / ORCH / "logs" / "sess-001.jsonl"
    assert session["log_path"] == str(log)
    played = (STREAMS / "claude-success.jsonl").read_text()
    assert log.read_text() == re.sub(r'"session_id":"[^"]*"', f'"session_id":"{chosen}"', played)


def test_json_keeps_stdout_for_the_session_and_the_view_goes_to_stderr(project: Path, tmp_path: Path) -> None:
    result = coord("run", "--json", "--runtime", "codex", cwd=project, env=agent_env(tmp_path, "codex-success.jsonl"))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["agent_session_id"] == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert (record["input_tokens"], record["cache_read_tokens"], record["output_tokens"]) == (24763, 24448, 122)
    assert record["is_error"] is False and record["final_message"].endswith("T-002 is done.")
    assert "→ shell: bash -lc 'make test'" in result.stderr.splitlines()
    assert "✓ turn completed: 24,763 input tokens (24,448 cached), 122 output tokens" in result.stderr
    assert launched(tmp_path)["argv"][:4] == ["exec", "-s", "workspace-write", "--json"]


def test_the_codex_thread_is_recorded_once_printed_and_recovered_from_the_log_after_a_crash(
    project: Path, tmp_path: Path
) -> None:
    env = agent_env(tmp_path, "codex-0.171.0-offline-hangs.jsonl", hang=1)
    process = start_coord(project, env, "run", "--runtime", "codex")
    try:
        wait_for(lambda: [s.get("agent_session_id") for s in sessions(project)] == [CODEX_THREAD])
        (running,) = sessions(project)
        assert "ended_at" not in running  # recorded while the agent still runs
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    os.killpg(running["pid"], signal.SIGKILL)  # away from a terminal the agent leads its own group
    wait_for(lambda: not is_alive(running["pid"], None))

    # coord killed between the agent's first event and its record of it: only the log has the id
    path = project / ORCH / "state.json"
    data = json.loads(path.read_text())
    del data["sessions"][0]["agent_session_id"]
    path.write_text(json.dumps(data))

    env = agent_env(tmp_path, "codex-success.jsonl")
    resumed = coord("resume", "--runtime", "codex", cwd=project, env=env)
    assert resumed.returncode == 0, resumed.stderr
    first, second = sessions(project)
    assert (first["ended_reason"], first["agent_session_id"]) == ("crashed", CODEX_THREAD)
    argv = launched(tmp_path)["argv"]
    assert argv == ["exec", "-s", "workspace-write", "--json", "resume", CODEX_THREAD, argv[-1]]
    assert (second["resumed_agent_session"], second["agent_session_id"]) == (CODEX_THREAD, CODEX_THREAD)


def big_template(tmp_path: Path, size: int) -> Path:
    template = tmp_path / "big.md.j2"
    template.write_text("Work on {{ task.id }}.\n" + "All work and no play. " * (size // 22) + "\n")
    return template


@pytest.mark.parametrize(
    ("runtime", "argv", "detach"),
    [
        pytest.param(
            "claude", ["-p", *STREAM_JSON, "--session-id", "*", "--permission-mode", "acceptEdits"], [], id="claude"
        ),
        pytest.param("codex", ["exec", "-s", "workspace-write", "--json", "-"], [], id="codex"),
        pytest.param("codex", ["exec", "-s", "workspace-write", "--json", "-"], ["--detach"], id="codex-detached"),
    ],
)
def test_a_prompt_over_100_kib_goes_to_the_presets_by_stdin(
    project: Path, tmp_path: Path, runtime: str, argv: list[str], detach: list[str]
) -> None:
    template = big_template(tmp_path, 110 * 1024)
    env = agent_env(tmp_path, f"{runtime}-success.jsonl", read_stdin=1)
    result = coord("run", *detach, "--runtime", runtime, "--template", str(template), cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: ended(project))
    facts = launched(tmp_path)
    given = facts["argv"]
    assert given == [given[i] if part == "*" else part for i, part in enumerate(argv)]  # no prompt argument
    prompt = (project / ORCH / "logs" / "sess-001.prompt.md").read_text()
    assert prompt.startswith("Work on T-002.") and len(prompt.encode()) > 110 * 1024
    assert facts["stdin"] == prompt
    assert sessions(project)[0]["ended_reason"] == "completed"


def test_a_prompt_file_placeholder_gets_the_prompt_whatever_its_size(project: Path, tmp_path: Path) -> None:
    template = big_template(tmp_path, 200 * 1024)
    env = agent_env(tmp_path, "codex-success.jsonl")
    command = f"{REPLAY_COMMAND} --from {{prompt_file}}"
    result = coord("run", "--command", command, "--template", str(template), cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    argv = launched(tmp_path)["argv"]
    prompt_file = project / ORCH / "logs" / "sess-001.prompt.md"
    assert argv == ["--from", str(prompt_file)]
    assert prompt_file.read_text().startswith("Work on T-002.") and prompt_file.stat().st_size > 200 * 1024


@pytest.mark.parametrize("how", ["command", "runtime"])
def test_a_prompt_too_long_for_an_argument_is_one_line_that_says_what_to_do(
    project: Path, tmp_path: Path, how: str
) -> None:
    template = big_template(tmp_path, 200 * 1024)
    if how == "runtime":
        config = project / ".mosaic" / "mission.yaml"
        listed = ", ".join(REPLAY_COMMAND.split())
        config.write_text(config.read_text() + f'runtimes:\n  mine: [{listed}, --message, "{{prompt}}"]\n')
        args = ["--runtime", "mine"]
    else:
        args = ["--command", f"{REPLAY_COMMAND} --message {{prompt}}"]
    env = agent_env(tmp_path, "codex-success.jsonl")
    result = coord("run", *args, "--template", str(template), cwd=project, env=env)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    program = Path(REPLAY_COMMAND.split()[0]).name  # named: with --command the runtime's name would mislead
    assert line.startswith(f"coord: error: the prompt is 200 KiB, too long for one argument of `{program}`; put")
    assert 'put "{prompt_file}" in its command (where "{prompt}" is)' in line
    assert not (tmp_path / "agent.json").exists()
    assert sessions(project) == [] and not (project / ORCH / "session.lock").exists()
    assert task_status(project, "T-002") == "not-started"


def test_a_detached_claude_session_records_the_same_telemetry(project: Path, tmp_path: Path) -> None:
    env = {**agent_env(tmp_path, "claude-success.jsonl", delay=0.02), "CLAUDECODE": "1"}
    result = coord("run", "--detach", "--runtime", "claude", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: ended(project))
    (session,) = sessions(project)
    assert {key: session.get(key) for key in SUCCESS_FIELDS} == SUCCESS_FIELDS
    facts = launched(tmp_path)
    assert session["agent_session_id"] == facts["argv"][facts["argv"].index("--session-id") + 1]
    assert facts["stdin_devnull"] is True and "CLAUDECODE" not in facts["env"]
    assert "--permission-mode" in facts["argv"]
    log = (project / ORCH / "logs" / "sess-001.jsonl").read_text()
    assert log.count('"type":"result"') == 1 and "\n✓ result" not in log  # raw events, not the view
