"""Flags and Invoke's config (``coord.*``) → the options a command runs with; one place for coercion."""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaic_invoke.config.caps import CAP_KEYS, Cap, LoopCaps, read_cap
from mosaic_invoke.config.locate import locate_mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError

if TYPE_CHECKING:
    from mosaic_invoke.agents.runtimes import RuntimeSpec

__all__ = ["DEFAULTS", "LoopCaps", "Settings", "loop_caps", "mission_file", "read_settings", "run_options"]

# The collection's config. Every key Invoke should read from INVOKE_COORD_* is declared with
# a string default: Invoke reads a variable only for a key it knows, and casts it to the
# default's type (a list cannot be cast; an int fails on "8h"). `env` is not declared: a
# mapping in invoke.yaml cannot merge onto a string default, nor a string onto a mapping,
# so its variable is read here (`_lookup`) when no config file holds it as a string.
DEFAULTS: dict[str, Any] = {
    "mission": "",
    "runtime": "",
    "template": "",
    "command": "",
    "runtimes": {},
    "loop": dict.fromkeys(CAP_KEYS, ""),
}

# A cap's flag, where its name differs from its key.
_FLAGS = {"max_cost_usd": "max_cost"}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """``coord.*`` from Invoke's config, each value checked: what flags fall back to."""

    mission: str | None = None
    runtime: str | None = None
    template: str | None = None
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    runtimes: Mapping[str, RuntimeSpec] = field(default_factory=dict)
    loop: Mapping[str, Cap] = field(default_factory=dict)
    """The caps set under ``coord.loop``, read; a cap not set there is left out."""


def read_settings(config: Any, environ: Mapping[str, str] | None = None) -> Settings:
    """The ``coord`` section of an Invoke config (``c.config``), checked and coerced.

    A parent's ``ns.configure({"coord": ...})`` replaces the whole section: no key is assumed.
    """
    reader = _Reader(config, os.environ if environ is None else environ)
    runtimes = reader.get("runtimes", environ=False)
    return Settings(
        mission=reader.text("mission"),
        runtime=reader.text("runtime"),
        template=reader.text("template"),
        command=_command(reader.get("command"), reader.source("command")),
        env=_pairs(reader.get("env"), reader.source("env")),
        runtimes=_runtimes(runtimes),
        loop=reader.caps(),
    )


def mission_file(settings: Settings, flag: str | None) -> Path:
    """The mission.yaml a command works on: ``--mission``, else ``coord.mission``, else found from here."""
    return locate_mission(flag or settings.mission)


def run_options(settings: Settings, mission_loop: Mapping[str, Cap], **flags: Any) -> RunOptions:
    """``run`` and ``resume``: their flags over the config; mission.yaml's runtime and template come
    last, in the runner; its ``loop:`` gives the two timeouts where neither flag nor config does."""
    limits = loop_caps(flags, settings, mission_loop)
    return RunOptions(
        task=flags["task"],
        runtime=flags["runtime"] or settings.runtime,
        milestone=flags["milestone"],
        print_only=flags.get("print_only", False),
        command=_command(flags["command"], "--command") or settings.command,
        env={**settings.env, **_pairs(flags["env"] or [], "--env")},
        template=flags["template"],
        configured_template=settings.template,
        runtimes=settings.runtimes,
        force=flags.get("force", False),
        detach=flags.get("detach", False),
        fresh=flags.get("fresh", False),
        session_timeout=limits.session_timeout,
        idle_timeout=limits.idle_timeout,
    )


def loop_caps(flags: Mapping[str, object], settings: Settings, mission_loop: Mapping[str, Cap]) -> LoopCaps:
    """Each cap from its flag, else ``coord.loop.<key>``, else mission.yaml ``loop:``, else its default.

    ``flags`` holds the task's parameters by name (``max_sessions``, ``max_cost``, ...; None: not
    given); other names are ignored, so ``run`` passes just its two timeouts.
    """
    values: dict[str, Any] = {}
    for key in CAP_KEYS:
        flag = _FLAGS.get(key, key)
        if flags.get(flag) is not None:
            values[key] = _cap(key, flags[flag], f"--{flag.replace('_', '-')}")
        elif key in settings.loop:
            values[key] = settings.loop[key]
        elif key in mission_loop:
            values[key] = mission_loop[key]
    return LoopCaps(**values)


class _Reader:
    """Reads ``coord.<key>`` with its environment variable as Invoke would have applied it."""

    def __init__(self, config: Any, environ: Mapping[str, str]) -> None:
        section = config.get("coord") if hasattr(config, "get") else None
        self.section: Any = section if hasattr(section, "get") else {}
        self.environ = environ
        self.prefix = str(getattr(config, "_env_prefix", None) or "INVOKE_")

    def variable(self, *path: str) -> str:
        return self.prefix + "_".join(("coord", *path)).upper()

    def get(self, *path: str, environ: bool = True) -> Any:
        """The value at ``coord.<path>``; None when unset.

        Invoke applies INVOKE_COORD_X only over a string it found in the config; where the key
        is missing (a parent's ``ns.configure`` dropped it) or holds a mapping, the variable
        still beats the config files, as Invoke's order says.
        """
        value: Any = self.section
        for key in path:
            value = value.get(key) if hasattr(value, "get") else None
        name = self.variable(*path)
        if environ and not isinstance(value, str) and name in self.environ:
            value = self.environ[name]
        return None if value in ("", None) else value

    def source(self, *path: str) -> str:
        """Where a value came from, for messages: the variable when it holds it, else the key."""
        value, name = self.get(*path), self.variable(*path)
        if value is not None and self.environ.get(name) == str(value):
            return name
        return f"config `coord.{'.'.join(path)}`"

    def text(self, key: str) -> str | None:
        value = self.get(key)
        if value is not None and not isinstance(value, str):
            msg = f"{self.source(key)}: expected a string, not {_kind(value)}"
            raise CoordError(msg)
        return value

    def caps(self) -> dict[str, Cap]:
        loop = self.section.get("loop")
        if loop is not None and not hasattr(loop, "keys"):
            msg = f"config `coord.loop`: expected a mapping of caps ({', '.join(CAP_KEYS)})"
            raise CoordError(msg)
        for key in loop or ():
            if key not in CAP_KEYS:
                close = difflib.get_close_matches(str(key), CAP_KEYS, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"known: {', '.join(CAP_KEYS)}"
                msg = f"config `coord.loop.{key}`: unknown cap; {hint}"
                raise CoordError(msg)
        values = {}
        for key in CAP_KEYS:
            value = self.get("loop", key)
            if value is not None:
                values[key] = _cap(key, value, self.source("loop", key))
        return values


def _cap(key: str, value: object, source: str) -> Cap:
    try:
        return read_cap(key, value)
    except ValueError as error:
        msg = f"{source}: {error}"
        raise CoordError(msg) from None


def _pairs(values: Any, source: str) -> dict[str, str]:
    """``KEY=VALUE`` items from a flag list, a config string, or a config mapping."""
    if hasattr(values, "keys"):
        pairs = {}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                msg = f"{source}: `{key}`: expected a string, not {_kind(value)}; quote it"
                raise CoordError(msg)
            pairs[str(key)] = str(value)
        return pairs
    try:
        items = shlex.split(values) if isinstance(values, str) else list(values or ())
    except ValueError as error:
        msg = f"{source}: {error}; expected KEY=VALUE items"
        raise CoordError(msg) from None
    pairs = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            msg = f"{source}: expected KEY=VALUE, got {item!r}"
            raise CoordError(msg)
        pairs[key] = value
    return pairs


def _command(value: Any, source: str) -> tuple[str, ...] | None:
    if not value:
        return None
    from mosaic_invoke.agents.runtimes import parse_command  # imported only when a command is configured

    argv = parse_command(value)
    if argv is None:
        msg = f"{source}: expected a command line or a list of strings, not {_kind(value)}"
        raise CoordError(msg)
    return argv


def _runtimes(value: Any) -> dict[str, RuntimeSpec]:
    if not value:
        return {}
    if not hasattr(value, "keys"):
        msg = "config `coord.runtimes`: expected a mapping of runtime name to command"
        raise CoordError(msg)
    from mosaic_invoke.agents.runtimes import parse_runtime  # only when `coord.runtimes` is set (some 5 ms)

    specs = {}
    for name, item in value.items():
        spec = parse_runtime(_plain(item))
        if isinstance(spec, str):
            msg = f"config `coord.runtimes.{name}`: {spec}"
            raise CoordError(msg)
        specs[str(name)] = spec
    return specs


def _plain(value: Any) -> Any:
    """A config value with Invoke's mapping proxies turned into dicts (parse_runtime checks Mapping)."""
    return {key: _plain(item) for key, item in value.items()} if hasattr(value, "keys") else value


def _kind(value: object) -> str:
    if value is None:
        return "an empty value"
    if hasattr(value, "keys"):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"
