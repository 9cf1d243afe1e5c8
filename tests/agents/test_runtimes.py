from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mosaic_invoke.agents.runtimes import (
    PRESETS,
    PROMPT_ARG_LIMIT,
    RuntimeSpec,
    agent_env,
    parse_runtime,
    resolve_runtime,
)
from mosaic_invoke.errors import CoordError

UUID = "3f1c2b7e-8a4d-4c1e-9b2a-5d6e7f809a1b"
THREAD = "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"
STREAM = ["--output-format", "stream-json", "--verbose"]

CLAUDE_FLAGS = {
    "read-only": [],
    "workspace": ["--permission-mode", "acceptEdits"],
    "full": ["--dangerously-skip-permissions"],
}
CODEX_FLAGS = {
    "read-only": ["-s", "read-only"],
    "workspace": ["-s", "workspace-write"],
    "full": ["--dangerously-bypass-approvals-and-sandbox"],
}


@pytest.mark.parametrize("level", ["read-only", "workspace", "full"])
def test_claude_preset_fresh_and_resumed(level: str) -> None:
    runtime = resolve_runtime("claude", {}, permissions=level)
    fresh = runtime.invocation("do it", session_uuid=UUID)
    assert list(fresh.argv) == ["claude", "-p", "do it", *STREAM, "--session-id", UUID, *CLAUDE_FLAGS[level]]
    assert (fresh.stdin, fresh.agent_session_id, fresh.resumed) == ("null", UUID, None)
    resumed = runtime.invocation("go on", session_uuid=UUID, agent_session_id="abc")
    assert list(resumed.argv) == ["claude", "-p", "go on", *STREAM, "--resume", "abc", *CLAUDE_FLAGS[level]]
    assert (resumed.stdin, resumed.agent_session_id, resumed.resumed) == ("null", "abc", "abc")
    assert runtime.output == "claude-stream-json" and runtime.permissions == level


@pytest.mark.parametrize("level", ["read-only", "workspace", "full"])
def test_codex_preset_puts_its_options_before_resume(level: str) -> None:
    runtime = resolve_runtime("codex", {}, permissions=level)
    fresh = runtime.invocation("do it", session_uuid=UUID)
    assert list(fresh.argv) == ["codex", "exec", *CODEX_FLAGS[level], "--json", "do it"]
    assert (fresh.stdin, fresh.agent_session_id) == ("null", None)  # codex names its thread itself
    resumed = runtime.invocation("go on", session_uuid=UUID, agent_session_id=THREAD)
    assert list(resumed.argv) == ["codex", "exec", *CODEX_FLAGS[level], "--json", "resume", THREAD, "go on"]
    assert resumed.agent_session_id == THREAD and runtime.output == "codex-json"


def test_the_prompt_shows_the_presets_base_and_a_users_command_without_placeholders() -> None:
    assert resolve_runtime("claude", {}).launch == "claude -p"
    assert resolve_runtime("codex", {}, permissions="full").launch == "codex exec"
    spec = RuntimeSpec(command=("my-agent", "--in", "{prompt_file}", "--id", "{uuid}", "--msg={prompt}", "--go"))
    assert resolve_runtime("mine", {"mine": spec}).launch == "my-agent --in --id --go"
    assert str(resolve_runtime("mine", {"mine": spec})) == "mine"


def test_a_long_prompt_goes_by_stdin_to_the_presets() -> None:
    long = "x" * (PROMPT_ARG_LIMIT + 1)
    claude = resolve_runtime("claude", {}).invocation(long, session_uuid=UUID)
    assert list(claude.argv) == ["claude", "-p", *STREAM, "--session-id", UUID, "--permission-mode", "acceptEdits"]
    assert claude.stdin == "prompt"
    codex = resolve_runtime("codex", {}).invocation(long, session_uuid=UUID, agent_session_id=THREAD)
    assert list(codex.argv) == ["codex", "exec", "-s", "workspace-write", "--json", "resume", THREAD, "-"]
    assert codex.stdin == "prompt"
    at_limit = "é" * (PROMPT_ARG_LIMIT // 2)  # counted in bytes: exactly the limit
    assert resolve_runtime("codex", {}).invocation(at_limit, session_uuid=UUID).argv[-1] == at_limit


def test_a_user_command_takes_the_prompt_where_it_says_or_at_the_end(tmp_path: Path) -> None:
    file = tmp_path / "logs" / "sess-001.prompt.md"
    by_file = RuntimeSpec(command=("agent", "--file={prompt_file}"))
    launch = resolve_runtime("f", {"f": by_file}).invocation("hello", session_uuid=UUID, prompt_file=file)
    assert list(launch.argv) == ["agent", f"--file={file}"]
    assert (launch.stdin, launch.agent_session_id) == ("inherit", None)
    shown = resolve_runtime("f", {"f": by_file}).invocation("hello", session_uuid=UUID)
    assert list(shown.argv) == ["agent", "--file={prompt_file}"]  # print-only shows where it goes
    bare = resolve_runtime("b", {"b": RuntimeSpec(command=("agent", "--yes"))})
    assert list(bare.invocation("hello", session_uuid="u").argv) == ["agent", "--yes", "hello"]
    assert resolve_runtime("x", {}, ["agent", "-m", "{prompt}", "--id", "{uuid}"]).invocation(
        "hi", session_uuid=UUID
    ).argv == ("agent", "-m", "hi", "--id", UUID)


def test_a_prompt_too_long_for_an_argument_asks_for_a_prompt_file() -> None:
    runtime = resolve_runtime("a", {"a": RuntimeSpec(command=("agent", "{prompt}"))})
    with pytest.raises(CoordError, match=r"^the prompt is 200 KiB, too long for one argument of `agent`; put"):
        runtime.invocation("x" * 200 * 1024, session_uuid=UUID)
    by_file = resolve_runtime("a", {"a": RuntimeSpec(command=("agent", "{prompt_file}"))})
    assert by_file.invocation("x" * 200 * 1024, session_uuid=UUID, prompt_file="p.md").argv == ("agent", "p.md")


@given(st.text())
def test_the_prompt_reaches_the_agent_as_written(prompt: str) -> None:
    """Placeholders inside the prompt are text, not placeholders."""
    runtime = resolve_runtime("claude", {})
    launch = runtime.invocation(prompt + "{uuid}{agent_session_id}{prompt_file}", session_uuid=UUID)
    assert launch.argv[2] == prompt + "{uuid}{agent_session_id}{prompt_file}"
    assert launch.argv.count(UUID) == 1


def test_a_configured_runtime_resumes_with_its_own_form_and_permissions() -> None:
    spec = parse_runtime(
        {
            "command": ["claude", "-p", "{prompt}", "--model", "opus"],
            "output": "claude-stream-json",
            "resume": 'claude -p "{prompt}" --resume "{agent_session_id}"',
            "permissions": "full",
        }
    )
    assert isinstance(spec, RuntimeSpec)
    runtime = resolve_runtime("opus", {"opus": spec}, permissions="read-only")
    assert runtime.permissions == "full" and runtime.output == "claude-stream-json" and runtime.can_resume
    fresh = runtime.invocation("p", session_uuid=UUID)
    assert list(fresh.argv) == ["claude", "-p", "p", "--model", "opus", "--dangerously-skip-permissions"]
    assert fresh.stdin == "null"  # claude, as the preset: a piped stdin would join the prompt
    resumed = runtime.invocation("q", session_uuid=UUID, agent_session_id="s1")
    assert list(resumed.argv) == ["claude", "-p", "q", "--resume", "s1", "--dangerously-skip-permissions"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        pytest.param(
            ["claude", "-p", "{prompt}"], ["claude", "-p", "{prompt}", "--permission-mode", "acceptEdits"], id="claude"
        ),
        pytest.param(
            ["/opt/bin/codex", "exec", "{prompt}"],
            ["/opt/bin/codex", "exec", "-s", "workspace-write", "{prompt}"],
            id="codex-path",
        ),
        pytest.param(["codex", "{prompt}"], ["codex", "-s", "workspace-write", "{prompt}"], id="codex-interactive"),
        pytest.param(
            ["claude", "-p", "--permission-mode", "plan"],
            ["claude", "-p", "--permission-mode", "plan"],
            id="claude-own",
        ),
        pytest.param(
            ["codex", "exec", "--sandbox=read-only"], ["codex", "exec", "--sandbox=read-only"], id="codex-own"
        ),
        pytest.param(["aider", "--message", "{prompt}"], ["aider", "--message", "{prompt}"], id="other-agent"),
    ],
)
def test_permission_flags_for_the_agents_we_know_unless_the_command_sets_its_own(
    command: list[str], expected: list[str]
) -> None:
    assert list(resolve_runtime("x", {}, command).command) == expected


def test_a_runtime_without_a_resume_form_cannot_resume() -> None:
    runtime = resolve_runtime("a", {"a": RuntimeSpec(command=("agent",))})
    assert not runtime.can_resume
    with pytest.raises(ValueError, match="no resume form"):
        runtime.invocation("p", session_uuid=UUID, agent_session_id="s")


def test_unknown_runtime_lists_the_known_ones() -> None:
    with pytest.raises(
        CoordError, match=r"^unknown runtime `aidr`; did you mean `aider`\? known: aider, claude, codex; add it under"
    ):
        resolve_runtime("aidr", {"aider": RuntimeSpec(command=("aider",))})


def test_a_configured_runtime_replaces_a_preset() -> None:
    runtime = resolve_runtime(
        "claude", {"claude": RuntimeSpec(command=("claude", "-p", "{prompt}", "--model", "opus"))}
    )
    assert runtime.output == "text" and not runtime.can_resume
    assert runtime.launch == "claude -p --model opus --permission-mode acceptEdits"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param({"command": 3}, "`command` must be a command", id="command"),
        pytest.param(
            {"command": "a", "output": "json"},
            "`output` must be one of text, claude-stream-json, codex-json",
            id="output",
        ),
        pytest.param({"command": "a", "resume": [1]}, "`resume` must be a command", id="resume-type"),
        pytest.param(
            {"command": "a", "resume": "a --again"}, '`resume` must contain "{agent_session_id}"', id="resume-id"
        ),
        pytest.param(
            {"command": "a", "permissions": "root"},
            "`permissions` must be one of read-only, workspace, full",
            id="permissions",
        ),
        pytest.param(
            {"command": "a", "model": "x"},
            "unknown key `model`; known keys: command, output, resume, permissions",
            id="key",
        ),
        pytest.param(["a", 1], "must be a command", id="list"),
        pytest.param('a "unclosed', "must be a command", id="quote"),
    ],
)
def test_parse_runtime_says_what_is_wrong(value: object, problem: str) -> None:
    result = parse_runtime(value)
    assert isinstance(result, str) and result.startswith(problem)


def test_parse_runtime_reads_both_forms() -> None:
    assert parse_runtime("agent --go '{prompt}'") == RuntimeSpec(command=("agent", "--go", "{prompt}"))
    assert parse_runtime({"command": ["a"], "output": "codex-json"}) == RuntimeSpec(command=("a",), output="codex-json")


def test_every_preset_resumes_and_reads_structured_output() -> None:
    assert all(spec.resume and spec.output != "text" for spec in PRESETS.values())


def test_the_agent_does_not_inherit_claudecode() -> None:
    env = {"CLAUDECODE": "1", "PATH": "/bin", "CLAUDE_CONFIG_DIR": "/c"}
    assert agent_env(env) == {"PATH": "/bin", "CLAUDE_CONFIG_DIR": "/c"}
    assert env["CLAUDECODE"] == "1"  # the caller's mapping is left alone


def test_a_new_uuid_is_a_random_version_4_uuid() -> None:
    import uuid

    from mosaic_invoke.session.plan import new_uuid

    made = {new_uuid() for _ in range(50)}
    assert len(made) == 50
    assert all(uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text for text in made)
