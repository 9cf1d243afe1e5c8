"""Every documented config form (README "Configuration"), from invoke.yaml, a composing tasks.py's
ns.configure and the environment, through the real `invoke` and `mosaic-coord` executables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AGENT_COMMAND, BIN, FAKE_AGENT, coord

TEAM_TEMPLATE = "TEAM PROMPT for {{ task.id }} of {{ mission.id }}\n"
PLAIN_TASKS = (
    "from invoke import Collection\nfrom mosaic_invoke import coord\n\nns = Collection()\nns.add_collection(coord)\n"
)


def run_program(
    program: str, folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mosaic-coord ARGS`` or ``invoke coord.ARGS``, run in ``folder``."""
    if program == "mosaic-coord":
        return coord(*args, cwd=folder, env=env)
    return subprocess.run(
        [str(BIN / "invoke"), f"coord.{args[0]}", *args[1:]],
        cwd=folder,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def configure(folder: Path, source: str, settings: dict[str, Any]) -> dict[str, str]:
    """Put ``settings`` (coord.*) where ``source`` says; returns the environment to run with."""
    tasks_py = PLAIN_TASKS
    if source == "ns.configure":
        tasks_py += f"ns.configure({{'coord': {settings!r}}})\n"
    (folder / "tasks.py").write_text(tasks_py)
    if source == "invoke.yaml":
        (folder / "invoke.yaml").write_text(yaml.safe_dump({"coord": settings}))
        return {}
    if source == "environment":
        env = {}
        for key, value in settings.items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, text in items:
                name = "_".join(part for part in ("INVOKE_COORD", key, sub) if part).upper()
                env[name] = str(text)
        return env
    return {}


# (source, program): ns.configure lives in a tasks.py, which only `invoke` loads.
ROUTES = [
    pytest.param("invoke.yaml", "invoke", id="invoke.yaml-invoke"),
    pytest.param("invoke.yaml", "mosaic-coord", id="invoke.yaml-mosaic-coord"),
    pytest.param("ns.configure", "invoke", id="ns.configure-invoke"),
    pytest.param("environment", "invoke", id="environment-invoke"),
    pytest.param("environment", "mosaic-coord", id="environment-mosaic-coord"),
]


@pytest.mark.parametrize(
    ("source", "program", "form"),
    [
        *[pytest.param(*route.values, "mapping", id=f"{route.id}-mapping") for route in ROUTES[:3]],
        *[pytest.param(*route.values, "string", id=f"{route.id}-string") for route in ROUTES],
    ],
)
def test_runtime_template_command_env_and_loop(
    project: Path, tmp_path: Path, source: str, program: str, form: str
) -> None:
    """The forms a user writes: env as a mapping or `K=V` string, command as a list or a string
    (the environment has only the string forms)."""
    (project / "prompts").mkdir()
    (project / "prompts" / "team.md.j2").write_text(TEAM_TEMPLATE)
    mapping = form == "mapping"
    settings = {
        "runtime": "codex",
        "template": "prompts/team.md.j2",
        "command": [sys.executable, str(FAKE_AGENT)] if mapping else AGENT_COMMAND,
        "env": {"TEAM": "payments", "LEVEL": 3} if mapping else "TEAM=payments LEVEL=3",
        "loop": {"session_timeout": "45m", "max_sessions": 40},
    }
    env = configure(project, source, settings)
    preview = run_program(program, project, "run", "--print-only", "--json", env=env)
    assert preview.returncode == 0, preview.stderr
    shown = json.loads(preview.stdout)
    assert shown["capsule"]["runtime"] == "codex"
    assert shown["command"][:2] == [sys.executable, str(FAKE_AGENT)]
    assert shown["prompt"] == "TEAM PROMPT for T-002 of demo\n"

    record = tmp_path / "record.json"
    ran = run_program(program, project, "run", env={**env, "FAKE_AGENT_RECORD": str(record)})
    assert ran.returncode == 0, ran.stderr
    agent_env = json.loads(record.read_text())["env"]
    assert (agent_env["TEAM"], agent_env["LEVEL"]) == ("payments", "3")


@pytest.mark.parametrize(("source", "program"), ROUTES)
def test_mission_from_another_folder(project: Path, tmp_path: Path, source: str, program: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = configure(elsewhere, source, {"mission": str(project)})
    result = run_program(program, elsewhere, "status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mission"]["id"] == "demo"


@pytest.mark.parametrize(("source", "program"), [route for route in ROUTES if route.values[0] != "environment"])
def test_runtimes_in_both_forms(project: Path, source: str, program: str) -> None:
    """`coord.runtimes` is a mapping: it has no environment form."""
    runtimes = {
        "listed": ["my-agent", "--go", "{prompt}"],
        "mapped": {"command": ["other-agent", "{prompt}"], "output": "text", "permissions": "read-only"},
    }
    env = configure(project, source, {"runtimes": runtimes})
    for name, head in (("listed", ["my-agent", "--go"]), ("mapped", ["other-agent"])):
        result = run_program(program, project, "run", "--print-only", "--json", "--runtime", name, env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["command"][: len(head)] == head


@pytest.mark.parametrize(("source", "program"), ROUTES)
def test_a_bad_loop_cap_names_where_it_was_set(project: Path, source: str, program: str) -> None:
    env = configure(project, source, {"loop": {"max_hours": "soon"}})
    result = run_program(program, project, "status", env=env)
    assert result.returncode == 1
    where = "INVOKE_COORD_LOOP_MAX_HOURS" if source == "environment" else "config `coord.loop.max_hours`"
    assert result.stderr.splitlines() == [
        f"coord: error: {where}: expected a duration such as 90s, 45m, 8h or 1h30m, or `none`; got `soon`"
    ]


@pytest.mark.parametrize("program", ["invoke", "mosaic-coord"])
def test_the_environment_beats_invoke_yaml(project: Path, program: str) -> None:
    configure(project, "invoke.yaml", {"loop": {"max_hours": "soon"}, "env": {"TEAM": "x"}, "runtime": "aider"})
    env = {"INVOKE_COORD_LOOP_MAX_HOURS": "8h", "INVOKE_COORD_ENV": "TEAM=y", "INVOKE_COORD_RUNTIME": "codex"}
    result = run_program(program, project, "run", "--print-only", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["capsule"]["runtime"] == "codex"


def test_a_setting_written_two_ways_is_one_line_from_mosaic_coord(project: Path) -> None:
    """A mapping in the user's ~/.invoke.yaml and a string in the project's cannot merge."""
    (Path.home() / ".invoke.yaml").write_text("coord:\n  env: {TEAM: payments}\n")
    (project / "invoke.yaml").write_text("coord:\n  env: TEAM=core\n")
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "coord: error: config: a coord setting is a mapping in one place and a single value in another "
        "(a config file, ns.configure, INVOKE_COORD_*); write it one way"
    ]


def test_a_variable_replaces_a_list_or_a_number_from_mosaic_coord(project: Path) -> None:
    """Invoke would cast the variable to the type in the file (and fail); mosaic-coord reads it as written."""
    (project / "invoke.yaml").write_text("coord:\n  command: [my-agent, '{prompt}']\n  loop: {max_sessions: 5}\n")
    env = {"INVOKE_COORD_COMMAND": "other {prompt}", "INVOKE_COORD_LOOP_MAX_SESSIONS": "none"}
    result = coord("run", "--print-only", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("command: other {prompt}\n")
    wrong = coord("status", cwd=project, env={"INVOKE_COORD_LOOP_MAX_SESSIONS": "[3]"})
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines() == [
        "coord: error: INVOKE_COORD_LOOP_MAX_SESSIONS: expected a whole number of 1 or more, or `none` for no "
        "limit; got `[3]`"
    ]


@pytest.mark.parametrize(
    ("where", "args", "env"),
    [
        pytest.param("mission.yaml", [], {}, id="mission.yaml"),
        pytest.param("config", [], {"INVOKE_COORD_LOOP_SESSION_TIMEOUT": "1"}, id="environment"),
        pytest.param("flag", ["--session-timeout", "1s"], {}, id="flag"),
    ],
)
def test_a_session_timeout_from_each_source_ends_a_hung_agent(
    project: Path, where: str, args: list[str], env: dict[str, str]
) -> None:
    if where == "mission.yaml":
        config = project / ".mosaic" / "mission.yaml"
        config.write_text(config.read_text() + "loop: {session_timeout: 1s}\n")
    else:  # mission.yaml would end it later than the flag or config
        config = project / ".mosaic" / "mission.yaml"
        config.write_text(config.read_text() + "loop: {session_timeout: 1h}\n")
    result = coord(
        "run", "--json", "--command", AGENT_COMMAND, *args, cwd=project, env={**env, "FAKE_AGENT_SLEEP": "30"}
    )
    assert json.loads(result.stdout)["ended_reason"] == "timeout", result.stderr
