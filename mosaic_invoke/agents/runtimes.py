"""Agent runtimes: the presets, configured ones, permissions, and the argv of each launch."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mosaic_invoke.errors import CoordError

PROMPT = "{prompt}"
PROMPT_FILE = "{prompt_file}"
UUID = "{uuid}"
AGENT_SESSION = "{agent_session_id}"
PLACEHOLDERS = (PROMPT, PROMPT_FILE, UUID, AGENT_SESSION)
DEFAULT_RUNTIME = "claude"
OUTPUTS = ("text", "claude-stream-json", "codex-json")
PERMISSIONS = ("read-only", "workspace", "full")
DEFAULT_PERMISSIONS = "workspace"
PROMPT_ARG_LIMIT = 100 * 1024
"""Prompts longer than this (bytes) go by stdin to the presets that read it there."""
_ARG_MAX = 128 * 1024 - 1  # Linux refuses one argument longer than this (MAX_ARG_STRLEN)
_SPEC_KEYS = ("command", "output", "resume", "permissions")
_STREAM_JSON = ("--output-format", "stream-json", "--verbose")

# The flags each agent program gets for each permission level, and those that show a command
# already chose its own (then coord adds none).
_PERMISSION_FLAGS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "claude": {
        "read-only": (),
        "workspace": ("--permission-mode", "acceptEdits"),
        "full": ("--dangerously-skip-permissions",),
    },
    "codex": {
        "read-only": ("-s", "read-only"),
        "workspace": ("-s", "workspace-write"),
        "full": ("--dangerously-bypass-approvals-and-sandbox",),
    },
}
_OWN_FLAGS: Mapping[str, tuple[str, ...]] = {
    "claude": ("--permission-mode", "--dangerously-skip-permissions"),
    "codex": ("-s", "--sandbox", "--dangerously-bypass-approvals-and-sandbox", "--full-auto"),
}


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


def spec_of(fields: Mapping[str, Any]) -> RuntimeSpec:
    """A `RuntimeSpec` from its fields as JSON holds them (lists for its commands)."""
    resume = fields.get("resume")
    return RuntimeSpec(
        command=tuple(fields["command"]),
        output=fields.get("output", "text"),
        resume=tuple(resume) if resume is not None else None,
        permissions=fields.get("permissions"),
    )


PRESETS: Mapping[str, RuntimeSpec] = {
    "claude": RuntimeSpec(
        command=("claude", "-p", PROMPT, *_STREAM_JSON, "--session-id", UUID),
        output="claude-stream-json",
        resume=("claude", "-p", PROMPT, *_STREAM_JSON, "--resume", AGENT_SESSION),
    ),
    # `codex -p` takes a profile name; `codex exec` takes the prompt. Options go before `resume`.
    "codex": RuntimeSpec(
        command=("codex", "exec", "--json", PROMPT),
        output="codex-json",
        resume=("codex", "exec", "--json", "resume", AGENT_SESSION, PROMPT),
    ),
}
# What the prompt's "Launch runtime with" line shows for a preset, and what stands in for the
# prompt argument when the prompt goes by stdin.
_PRESET_LAUNCH: Mapping[str, str] = {"claude": "claude -p", "codex": "codex exec"}
_PROMPT_BY_STDIN: Mapping[str, tuple[str, ...]] = {"claude": (), "codex": ("-",)}


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
            if not any(AGENT_SESSION in part for part in resume):
                return f'`resume` must contain "{AGENT_SESSION}" where the agent\'s session id goes'
        permissions = value.get("permissions")
        if permissions is not None and permissions not in PERMISSIONS:
            return f"`permissions` must be one of {', '.join(PERMISSIONS)}"
        return RuntimeSpec(command=command, output=str(output), resume=resume, permissions=permissions)
    command = parse_command(value)
    if command is None:
        return 'must be a command: a list of strings or one string, e.g. [aider, --message, "{prompt}"]'
    return RuntimeSpec(command=command)


Stdin = Literal["inherit", "null", "prompt"]


@dataclass(frozen=True)
class Invocation:
    """One launch of an agent: its argv and what its standard input must be."""

    argv: tuple[str, ...]
    stdin: Stdin
    """``null``: /dev/null (claude and codex read a piped stdin); ``prompt``: the prompt's text (the
    prompt file opened for reading); ``inherit``: the caller's choice (/dev/null in loops, detached)."""
    agent_session_id: str | None
    """The agent session id known at launch: the ``{uuid}`` chosen, or the session resumed."""
    resumed: str | None
    """The agent session this launch continues, if it is a resume."""


@dataclass(frozen=True)
class Runtime:
    """A resolved runtime: its commands with the permission flags in, and how its output reads."""

    name: str
    command: tuple[str, ...]
    output: str = "text"
    resume: tuple[str, ...] | None = None
    permissions: str = DEFAULT_PERMISSIONS
    preset_launch: str | None = None
    """For a built-in preset, what the prompt shows as its launch command."""
    prompt_by_stdin: tuple[str, ...] | None = None
    """What replaces the ``{prompt}`` argument when the prompt goes by stdin; None: it cannot."""

    def __str__(self) -> str:
        return self.name

    @property
    def launch(self) -> str:
        """The launch command as the prompt's instructions show it: without its placeholders."""
        if self.preset_launch is not None:
            return self.preset_launch
        return shlex.join(part for part in self.command if not any(p in part for p in PLACEHOLDERS))

    @property
    def can_resume(self) -> bool:
        return self.resume is not None

    def invocation(
        self,
        prompt: str,
        *,
        session_uuid: str,
        agent_session_id: str | None = None,
        prompt_file: Path | str | None = None,
    ) -> Invocation:
        """One launch: fresh, or resuming ``agent_session_id`` with ``prompt`` as the new message.

        ``session_uuid`` is a fresh uuid4 (``{uuid}``); ``prompt_file`` is where the caller writes
        the prompt (``{prompt_file}``; None leaves the placeholder, for showing the command).
        """
        template = self.command
        if agent_session_id is not None:
            if self.resume is None:
                msg = f"runtime {self.name} has no resume form"
                raise ValueError(msg)
            template = self.resume
        file = None if prompt_file is None else str(prompt_file)
        argv = _fill(template, prompt, session_uuid, agent_session_id, file)
        by_stdin = self.prompt_by_stdin is not None and PROMPT in template and _size(prompt) > PROMPT_ARG_LIMIT
        if by_stdin:
            at = template.index(PROMPT)
            argv[at : at + 1] = self.prompt_by_stdin or ()
        longest = max(map(_size, argv))
        if longest > _ARG_MAX:
            msg = (
                f"the prompt is {longest // 1024} KiB, too long for one argument of `{Path(argv[0]).name}`; "
                f'put "{PROMPT_FILE}" in its command (where "{PROMPT}" is), so that it gets the prompt as a file'
            )
            raise CoordError(msg)
        known = agent_session_id
        if known is None and any(UUID in part for part in template):
            known = session_uuid
        headless = self.preset_launch is not None or Path(template[0]).name in _PERMISSION_FLAGS  # reads a pipe
        stdin: Stdin = "prompt" if by_stdin else "null" if headless else "inherit"
        return Invocation(tuple(argv), stdin, known, agent_session_id)


def resolve_runtime(
    name: str,
    presets: Mapping[str, RuntimeSpec],
    command: Sequence[str] | None = None,
    *,
    permissions: str = DEFAULT_PERMISSIONS,
) -> Runtime:
    """The runtime ``name`` from the configured ``presets`` or the built-in ones.

    ``command`` (``--command``) replaces its launch command; ``permissions`` is the mission's
    level, which a configured runtime's own ``permissions`` overrides.
    """
    if command:
        return Runtime(name, _with_permissions(tuple(command), permissions), permissions=permissions)
    if name in presets:
        spec = presets[name]
        level = spec.permissions or permissions
        resume = None if spec.resume is None else _with_permissions(spec.resume, level)
        return Runtime(
            name, _with_permissions(spec.command, level), output=spec.output, resume=resume, permissions=level
        )
    if name in PRESETS:
        spec = PRESETS[name]
        return Runtime(
            name,
            _with_permissions(spec.command, permissions),
            output=spec.output,
            resume=_with_permissions(spec.resume or (), permissions),
            permissions=permissions,
            preset_launch=_PRESET_LAUNCH[name],
            prompt_by_stdin=_PROMPT_BY_STDIN[name],
        )
    msg = f"{runtime_problem(name, presets)}; add it under `runtimes:` in mission.yaml or pass --command"
    raise CoordError(msg)


def runtime_problem(name: str, presets: Mapping[str, RuntimeSpec]) -> str | None:
    """Why ``name`` is neither a built-in preset nor one of ``presets`` (with the closest name), or None."""
    if name in presets or name in PRESETS:
        return None
    known = sorted({*PRESETS, *presets})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown runtime `{name}`; {hint}known: {', '.join(known)}"


def agent_env(env: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment: ``env`` without ``CLAUDECODE`` (a nested claude refuses to start)."""
    return {key: value for key, value in env.items() if key != "CLAUDECODE"}


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


def _with_permissions(command: tuple[str, ...], level: str) -> tuple[str, ...]:
    """``command`` with the flags of permission ``level``, for the agents whose flags we know.

    claude takes them at the end; codex right after ``exec`` (options go before ``resume``
    and the prompt). A command that sets its own keeps it.
    """
    program = Path(command[0]).name if command else ""
    flags = _PERMISSION_FLAGS.get(program, {}).get(level, ())
    own = _OWN_FLAGS.get(program, ())
    if not flags or any(part in own or part.startswith(tuple(f"{f}=" for f in own)) for part in command):
        return command
    if program == "codex":
        at = command.index("exec") + 1 if "exec" in command else 1
        return (*command[:at], *flags, *command[at:])
    return (*command, *flags)


def _fill(
    template: Sequence[str], prompt: str, session_uuid: str, agent_session_id: str | None, prompt_file: str | None
) -> list[str]:
    """The placeholders replaced; the prompt appended when the command takes it nowhere."""
    values = {PROMPT: prompt, UUID: session_uuid}
    if agent_session_id is not None:
        values[AGENT_SESSION] = agent_session_id
    if prompt_file is not None:
        values[PROMPT_FILE] = prompt_file
    argv = [_replace(part, values) for part in template]
    if not any(PROMPT in part or PROMPT_FILE in part for part in template):
        argv.append(prompt)
    return argv


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _replace(part: str, values: Mapping[str, str]) -> str:
    # One pass, so a prompt that contains "{uuid}" reaches the agent as those characters.
    for placeholder, value in values.items():
        if placeholder in part:
            pieces = part.split(placeholder)
            return value.join(_replace(piece, values) for piece in pieces)
    return part
