"""Agent runtimes: the built-in presets, configured ones, and their launch commands."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ._exceptions import CoordError

PROMPT = "{prompt}"
PRESETS: Mapping[str, tuple[str, ...]] = {
    "claude": ("claude", "-p", PROMPT),
    # `codex -p` takes a profile name; `codex exec` takes the prompt.
    "codex": ("codex", "exec", PROMPT),
}
DEFAULT_RUNTIME = "claude"


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


def resolve_runtime(name: str, presets: Mapping[str, tuple[str, ...]], command: Sequence[str] | None = None) -> Runtime:
    """The runtime ``name`` from the presets, its command replaced by ``command`` if given."""
    if command:
        return Runtime(name, tuple(command))
    known = {**PRESETS, **presets}
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
