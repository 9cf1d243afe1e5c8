"""Flags and Invoke's config (coord.*) → options: each form, each coercion, each error's source."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from invoke.config import Config

from mosaic_invoke.collection import make_collection
from mosaic_invoke.config.caps import CAP_KEYS, LoopCaps, read_cap
from mosaic_invoke.config.settings import Settings, loop_caps, read_settings, run_options
from mosaic_invoke.errors import CoordError

RUN_FLAGS: dict[str, Any] = {
    "task": None,
    "runtime": None,
    "milestone": None,
    "command": None,
    "env": None,
    "template": None,
}


def invoke_config(folder: Path, yaml_text: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """An Invoke config loaded as the `invoke` program loads it: collection, project file, environment."""
    if yaml_text is not None:
        (folder / "invoke.yaml").write_text(yaml_text)
    config = Config(project_location=str(folder))
    config.load_collection(make_collection().configuration())
    config.load_project()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (environ or {}).items():
            patch.setenv(name, value)
        config.load_shell_env()
    return config


def test_nothing_configured_reads_as_nothing(tmp_path: Path) -> None:
    assert read_settings(invoke_config(tmp_path), environ={}) == Settings()


def test_every_key_from_invoke_yaml(tmp_path: Path) -> None:
    text = """\
coord:
  mission: ../platform
  runtime: codex
  template: prompts/team.md.j2
  command: [my-agent, --go, "{prompt}"]
  env: {TEAM: payments, LEVEL: 3}
  runtimes:
    aider: [aider, --yes, --message, "{prompt}"]
    opus: {command: [claude, -p, "{prompt}"], output: claude-stream-json}
  loop: {max_sessions: 50, max_hours: 8, session_timeout: 45m, max_failures: none}
"""
    settings = read_settings(invoke_config(tmp_path, text), environ={})
    assert settings.mission == "../platform"
    assert settings.runtime == "codex"
    assert settings.template == "prompts/team.md.j2"
    assert settings.command == ("my-agent", "--go", "{prompt}")
    assert settings.env == {"TEAM": "payments", "LEVEL": "3"}
    assert settings.runtimes["aider"].command == ("aider", "--yes", "--message", "{prompt}")
    assert settings.runtimes["opus"].output == "claude-stream-json"
    assert settings.loop == {
        "max_sessions": 50,
        "max_hours": 8 * 3600.0,
        "session_timeout": 2700.0,
        "max_failures": None,
    }


def test_string_forms_from_invoke_yaml(tmp_path: Path) -> None:
    text = "coord:\n  command: my-agent --go {prompt}\n  env: TEAM=payments LEVEL=3\n"
    settings = read_settings(invoke_config(tmp_path, text), environ={})
    assert settings.command == ("my-agent", "--go", "{prompt}")
    assert settings.env == {"TEAM": "payments", "LEVEL": "3"}


def test_every_environment_form(tmp_path: Path) -> None:
    environ = {
        "INVOKE_COORD_MISSION": "/srv/app",
        "INVOKE_COORD_RUNTIME": "codex",
        "INVOKE_COORD_TEMPLATE": "t.md.j2",
        "INVOKE_COORD_COMMAND": "my-agent {prompt}",
        "INVOKE_COORD_ENV": "TEAM=payments",
        "INVOKE_COORD_LOOP_MAX_HOURS": "1h30m",
        "INVOKE_COORD_LOOP_REPORT": "false",
    }
    settings = read_settings(invoke_config(tmp_path, environ=environ), environ=environ)
    assert (settings.mission, settings.runtime, settings.template) == ("/srv/app", "codex", "t.md.j2")
    assert settings.command == ("my-agent", "{prompt}")
    assert settings.env == {"TEAM": "payments"}
    assert settings.loop == {"max_hours": 5400.0, "report": False}


def test_the_environment_beats_a_mapping_in_invoke_yaml(tmp_path: Path) -> None:
    """Invoke applies INVOKE_COORD_ENV only over a string; coord applies it over a mapping too."""
    environ = {"INVOKE_COORD_ENV": "TEAM=core"}
    config = invoke_config(tmp_path, "coord:\n  env: {TEAM: payments, LEVEL: 3}\n", environ)
    assert read_settings(config, environ=environ).env == {"TEAM": "core"}


def test_a_parents_configure_drops_our_keys_and_the_environment_still_counts() -> None:
    config = {"coord": {"runtime": "codex"}}  # what ns.configure({"coord": {...}}) leaves
    environ = {"INVOKE_COORD_MISSION": "/srv/app", "INVOKE_COORD_LOOP_PAUSE": "30s"}
    settings = read_settings(config, environ=environ)
    assert (settings.runtime, settings.mission, settings.loop) == ("codex", "/srv/app", {"pause": 30.0})
    assert read_settings({"deploy": {}}, environ={}) == Settings()


@pytest.mark.parametrize(
    ("section", "environ", "message"),
    [
        ({"runtime": 5}, {}, "config `coord.runtime`: expected a string, not a number"),
        ({"mission": ["a"]}, {}, "config `coord.mission`: expected a string, not a list"),
        (
            {"command": {"a": 1}},
            {},
            "config `coord.command`: expected a command line or a list of strings, not a mapping",
        ),
        ({"env": "NOEQUALS"}, {}, "config `coord.env`: expected KEY=VALUE, got 'NOEQUALS'"),
        ({"env": "A='open"}, {}, "config `coord.env`: No closing quotation; expected KEY=VALUE items"),
        ({"env": {"A": None}}, {}, "config `coord.env`: `A`: expected a string, not an empty value; quote it"),
        ({"env": {"A": True}}, {}, "config `coord.env`: `A`: expected a string, not true/false; quote it"),
        ({"runtimes": "claude"}, {}, "config `coord.runtimes`: expected a mapping of runtime name to command"),
        ({"runtimes": {"x": 3}}, {}, "config `coord.runtimes.x`: must be a command"),
        ({"loop": "fast"}, {}, "config `coord.loop`: expected a mapping of caps"),
        ({"loop": {"max_hour": 8}}, {}, "config `coord.loop.max_hour`: unknown cap; did you mean `max_hours`?"),
        ({"loop": {"max_hours": -2}}, {}, "config `coord.loop.max_hours`: must not be negative; got `-2`"),
        ({}, {"INVOKE_COORD_LOOP_MAX_SESSIONS": "0"}, "INVOKE_COORD_LOOP_MAX_SESSIONS: expected a whole number of 1"),
        ({}, {"INVOKE_COORD_ENV": "X"}, "INVOKE_COORD_ENV: expected KEY=VALUE, got 'X'"),
    ],
)
def test_a_bad_value_names_its_source(section: dict[str, Any], environ: dict[str, str], message: str) -> None:
    with pytest.raises(CoordError) as info:
        read_settings({"coord": section}, environ=environ)
    (problem,) = info.value.problems
    assert problem.startswith(message), problem


def test_flags_beat_the_config() -> None:
    settings = Settings(runtime="codex", command=("cfg",), env={"A": "1", "B": "1"}, template="cfg.j2")
    options = run_options(settings, {}, **{**RUN_FLAGS, "runtime": "aider", "command": "flag {prompt}", "env": ["B=2"]})
    assert (options.runtime, tuple(options.command or ())) == ("aider", ("flag", "{prompt}"))
    assert options.env == {"A": "1", "B": "2"}
    assert (options.template, options.configured_template) == (None, "cfg.j2")
    fallback = run_options(settings, {}, **RUN_FLAGS)
    assert (fallback.runtime, tuple(fallback.command or ())) == ("codex", ("cfg",))
    with pytest.raises(CoordError, match=r"^--env: expected KEY=VALUE, got 'oops'$"):
        run_options(settings, {}, **{**RUN_FLAGS, "env": ["oops"]})


def test_loop_caps_default_as_the_spec_says() -> None:
    caps = loop_caps({}, Settings(), {})
    assert caps == LoopCaps()
    assert (caps.max_sessions, caps.max_failures, caps.max_attempts) == (20, 3, 3)
    assert (caps.max_hours, caps.max_cost_usd, caps.session_timeout, caps.idle_timeout) == (None, None, None, None)
    assert (caps.pause, caps.backoff, caps.max_wait, caps.report) == (0.0, 30.0, 6 * 3600.0, True)


def test_loop_caps_flags_beat_config_beat_mission_yaml() -> None:
    mission = {"max_sessions": 5, "max_hours": 3600.0, "pause": 10.0, "max_cost_usd": 2.0}
    settings = Settings(loop={"max_sessions": 7, "max_hours": 7200.0})
    caps = loop_caps({"max_sessions": "9", "max_cost": "4.50", "milestone": "M1"}, settings, mission)
    assert caps.max_sessions == 9  # flag
    assert caps.max_hours == 7200.0  # config
    assert caps.pause == 10.0  # mission.yaml
    assert caps.max_cost_usd == 4.5  # the flag is --max-cost
    assert caps.backoff == 30.0  # default
    assert loop_caps({"max_sessions": "none", "max_hours": None}, settings, mission).max_sessions is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"max_hours": "soon"},
            "--max-hours: expected a duration such as 90s, 45m, 8h or 1h30m, or `none`; got `soon`",
        ),
        ({"max_cost": "-1"}, "--max-cost: must not be negative; got `-1`"),
        (
            {"max_sessions": "0"},
            "--max-sessions: expected a whole number of 1 or more, or `none` for no limit; got `0`",
        ),
        ({"session_timeout": "0"}, "--session-timeout: a timeout must be more than 0; write `none` for no limit"),
    ],
)
def test_a_bad_flag_is_named(flags: dict[str, object], message: str) -> None:
    with pytest.raises(CoordError) as info:
        loop_caps(flags, Settings(), {})
    assert info.value.problems == (message,)


def test_run_reads_its_two_timeouts_the_same_way() -> None:
    settings = Settings(loop={"idle_timeout": 300.0})
    mission = {"session_timeout": 60.0, "idle_timeout": 5.0}
    options = run_options(settings, mission, **{**RUN_FLAGS, "session_timeout": "45m", "idle_timeout": None})
    assert (options.session_timeout, options.idle_timeout) == (2700.0, 300.0)  # flag, config
    assert run_options(Settings(), mission, **RUN_FLAGS).session_timeout == 60.0  # mission.yaml
    assert run_options(Settings(), {}, **RUN_FLAGS).session_timeout is None  # default


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_sessions", "12", 12),
        ("max_sessions", 12, 12),
        ("max_sessions", "None", None),
        ("max_sessions", "off", None),
        ("max_hours", " OFF ", None),
        ("max_hours", False, None),  # `max_hours: off` in YAML
        ("pause", "off", 0.0),
        ("max_hours", 8, 8 * 3600.0),
        ("max_hours", "1.5", 5400.0),
        ("max_hours", "90m", 5400.0),
        ("max_hours", "1h30m", 5400.0),
        ("max_cost_usd", "$12.50", 12.5),
        ("max_cost_usd", 3, 3.0),
        ("session_timeout", "90s", 90.0),
        ("session_timeout", 90, 90.0),
        ("idle_timeout", "none", None),
        ("pause", "0", 0.0),
        ("pause", "none", 0.0),
        ("backoff", "none", 0.0),
        ("max_wait", "0", 0.0),
        ("max_wait", "none", None),
        ("report", "no", False),
        ("report", True, True),
        ("report", "none", False),
    ],
)
def test_cap_values(key: str, value: object, expected: object) -> None:
    assert read_cap(key, value) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_sessions", 0),
        ("max_sessions", -3),
        ("max_sessions", 2.5),
        ("max_sessions", True),
        ("max_failures", "three"),
        ("max_attempts", "0"),
        ("max_hours", 0),
        ("max_hours", "-1h"),
        ("max_hours", math.inf),
        ("max_cost_usd", 0),
        ("max_cost_usd", "nan"),
        ("session_timeout", "0s"),
        ("idle_timeout", "-5"),
        ("pause", "-1"),
        ("backoff", [30]),
        ("max_wait", "forever"),
        ("report", "sometimes"),
        ("lanes", "none"),
        ("lanes", 0),
        ("lanes", "two"),
    ],
)
def test_nonsense_caps_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        read_cap(key, value)


def test_lanes_read_from_the_flag_config_or_mission_yaml_and_are_never_off() -> None:
    assert loop_caps({}, Settings(), {}).lanes == 1
    assert loop_caps({}, Settings(), {"lanes": 3}).lanes == 3
    assert loop_caps({}, Settings(loop={"lanes": 2}), {"lanes": 3}).lanes == 2
    assert loop_caps({"lanes": "4"}, Settings(loop={"lanes": 2}), {"lanes": 3}).lanes == 4
    with pytest.raises(
        ValueError, match=r"^expected a whole number of 1 or more \(1: one session at a time\); got `none`$"
    ):
        read_cap("lanes", "none")


def test_every_cap_has_a_default_a_flag_and_a_config_key() -> None:
    assert set(CAP_KEYS) == {field for field in LoopCaps.__dataclass_fields__}
    from mosaic_invoke.config.settings import DEFAULTS
    from mosaic_invoke.flags import LOOP_HELP

    assert set(DEFAULTS["loop"]) == set(CAP_KEYS)
    flags = {key.replace("max_cost_usd", "max_cost") for key in CAP_KEYS if key != "report"}
    assert flags <= set(LOOP_HELP)
