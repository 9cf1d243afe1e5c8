"""Agent runtimes: the built-in presets, configured ones, and their launch commands."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ._exceptions import CoordError

PROMPT = "{prompt}"
PRESETS: Mapping[str, tuple[str, ...]] = {
    "claude": ("claude", "-p", PROMPT),
    # `codex -p` takes a profile name; `codex exec` takes the prompt.
    "codex": ("codex", "exec", PROMPT),
}
DEFAULT_RUNTIME = "claude"
OUTPUTS = ("text", "claude-stream-json", "codex-json")
PERMISSIONS = ("read-only", "workspace", "full")
_SPEC_KEYS = ("command", "output", "resume", "permissions")


@dataclass(frozen=True, kw_only=True)
class RuntimeSpec:
    """A runtime as configured: mission.yaml `runtimes:` or config `coord.runtimes`."""

    command: tuple[str, ...]
    output: str = "text"
    """How its standard output reads: one of `OUTPUTS`."""
    resume: tuple[str, ...] | None = None
    """The command that continues an agent session (``{agent_session_id}``), if it has one."""
    permissions: str | None = None
    """One of `PERMISSIONS`; None: the mission's."""


def parse_runtime(value: object) -> RuntimeSpec | str:
    """A runtime from config: a command (list or string) or a mapping; else what is wrong."""
    if isinstance(value, Mapping):
        unknown = [str(key) for key in value if key not in _SPEC_KEYS]
        if unknown:
            return f"unknown key `{unknown[0]}`; known keys: {', '.join(_SPEC_KEYS)}"
        command = parse_command(value.get("command"))
        if command is None:
            return '`command` must be a command: a list of strings or one string, e.g. [aider, --message, "{prompt}"]'
        output = value.get("output", "text")
        if output not in OUTPUTS:
            return f"`output` must be one of {', '.join(OUTPUTS)}"
        resume = None
        if value.get("resume") is not None:
            resume = parse_command(value["resume"])
            if resume is None:
                return "`resume` must be a command: a list of strings or one string"
        permissions = value.get("permissions")
        if permissions is not None and permissions not in PERMISSIONS:
            return f"`permissions` must be one of {', '.join(PERMISSIONS)}"
        return RuntimeSpec(command=command, output=str(output), resume=resume, permissions=permissions)
    command = parse_command(value)
    if command is None:
        return 'must be a command: a list of strings or one string, e.g. [aider, --message, "{prompt}"]'
    return RuntimeSpec(command=command)


class Runtime(NamedTuple):
    """An agent runtime: its name and launch command, ``{prompt}`` marking the prompt."""

    name: str
    command: tuple[str, ...]

    def __str__(self) -> str:
        return self.name

    @property
    def launch(self) -> str:
        """The launch command without the prompt, as the prompt's instructions show it."""
        return shlex.join(part for part in self.command if PROMPT not in part)

    def argv(self, prompt: str) -> list[str]:
        """The command with ``{prompt}`` replaced, or the prompt appended when it has none."""
        if not any(PROMPT in part for part in self.command):
            return [*self.command, prompt]
        return [part.replace(PROMPT, prompt) for part in self.command]


def resolve_runtime(name: str, presets: Mapping[str, RuntimeSpec], command: Sequence[str] | None = None) -> Runtime:
    """The runtime ``name`` from the presets, its command replaced by ``command`` if given."""
    if command:
        return Runtime(name, tuple(command))
    known = {**PRESETS, **{key: spec.command for key, spec in presets.items()}}
    if name not in known:
        msg = (
            f"unknown runtime {name!r}; known: {', '.join(sorted(known))}; "
            "add it under `runtimes:` in mission.yaml or pass --command"
        )
        raise CoordError(msg)
    return Runtime(name, known[name])


def parse_command(value: object) -> tuple[str, ...] | None:
    """A launch command from config: a list of strings, or one string split like a shell."""
    if isinstance(value, str):
        try:
            argv = tuple(shlex.split(value))
        except ValueError:
            return None
    elif isinstance(value, (list, tuple)) and all(isinstance(part, str) for part in value):
        argv = tuple(value)
    else:
        return None
    return argv or None
