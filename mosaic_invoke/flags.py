"""The commands' flags: one short letter per meaning across every command, one help text per flag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from invoke.exceptions import Exit
from invoke.parser.argument import Argument
from invoke.tasks import Task, task

from mosaic_invoke.terminal import discard_stdout, tolerant_stdout

# The only short flags, for every command: a letter means one thing everywhere; a flag not
# listed has none (Invoke would otherwise hand out first letters as it finds them free).
SHORT_FLAGS: dict[str, str] = {
    "task": "t",
    "runtime": "r",
    "milestone": "m",
    "print_only": "p",
    "command": "c",
    "env": "e",
    "template": "l",
    "detach": "d",
    "json": "j",
    "mission": "i",
    "force": "f",
    "session": "s",
}

HELP: dict[str, str] = {
    "task": "mission task id to run, e.g. T-012 (default: the next runnable task)",
    "runtime": "agent runtime: claude, codex, or one from `runtimes:` (default: config, mission.yaml, else claude)",
    "milestone": "milestone id for the prompt and for choosing the next task (default: the task's own)",
    "print_only": "write the capsule, print the launch command and the prompt, start nothing",
    "command": 'launch command, e.g. "my-agent --prompt {prompt}"; without {prompt} the prompt is appended',
    "env": "KEY=VALUE added to the agent's environment (repeatable)",
    "template": "Jinja2 template for the prompt (default: .mosaic/templates/continuation.md.j2, else the packaged one)",
    "detach": "run the agent in the background with its output in <orchestrator_dir>/logs/<session>.log",
    "json": "print JSON: the command, prompt and capsule with --print-only, else the session",
    "mission": "mission.yaml, or the project folder holding .mosaic/mission.yaml (default: found from here upward)",
    "force": "take over a lock written on another host (only once that session has ended)",
    "fresh": "start a new agent conversation even where the cut-off one could be resumed",
}

# The loop's caps (SPEC section 11), ready for `coord.loop`; `run` takes the two timeouts.
# Each also reads config `coord.loop.<key>` and mission.yaml `loop:`; `none` turns one off.
LOOP_HELP: dict[str, str] = {
    "max_sessions": "stop after this many sessions (default 20; none: no limit)",
    "max_hours": "stop starting sessions after this long: hours, or a duration such as 90m (default: none)",
    "max_failures": "stop after this many failed or rejected sessions in a row (default 3)",
    "max_attempts": "stop once one task had this many sessions without being accepted done (default 3)",
    "max_cost": "stop once the sessions' reported cost reaches this many US dollars (default: none)",
    "session_timeout": "end a session running longer than this, e.g. 45m (default: none)",
    "idle_timeout": "end a session that printed nothing for this long, e.g. 10m (default: none)",
    "pause": "wait this long between sessions, e.g. 30s (default 0)",
    "backoff": "after a failure wait this long, doubling per failure in a row up to 15m (default 30s; 0: off)",
    "max_wait": "stop rather than wait longer than this for a usage limit to lift (default 6h)",
    "max_idle_sessions": "stop after this many sessions in a row that changed nothing or ended on the same error "
    "(default 3)",
    "fallback_after": "switch to the next of runtime_fallback rather than wait longer than this for a usage limit "
    "(default 15m; none: always wait)",
    "allow_failing_gates": "start even when the verification gates already fail",
    "lanes": "run up to this many sessions at once, each in a git worktree of its own (default 1)",
}


class CoordTask(Task[Any]):
    """An Invoke task whose short flags come from `SHORT_FLAGS`, whose help survives a parse
    (Invoke's own pops each entry, so a second parse in one process showed no help), whose
    stdout takes whatever an agent printed, and which ends quietly when its reader goes away."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in SHORT_FLAGS:
            opts["names"] = [*opts["names"], SHORT_FLAGS[name]]
        return opts

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tolerant_stdout()
        try:
            return super().__call__(*args, **kwargs)
        except BrokenPipeError:
            # The reader went away (`invoke coord.status | head`): end quietly, exit 1, as
            # other tools do, not with Invoke's traceback.
            discard_stdout()
            raise Exit(code=1) from None

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        kept = dict(self.help)
        try:
            arguments: list[Argument] = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = kept
        return arguments


def coord_task(
    *, help: dict[str, str], iterable: list[str] | None = None, positional: list[str] | None = None
) -> Callable[[Callable[..., Any]], Task[Any]]:
    """``@task`` for coord's commands: short flags from `SHORT_FLAGS` only, help for every flag."""
    return task(klass=CoordTask, auto_shortflags=False, help=help, iterable=iterable or [], positional=positional or [])


def help_for(*names: str, **texts: str) -> dict[str, str]:
    """Help for the flags ``names`` from `HELP` or `LOOP_HELP`, with ``texts`` for a command's own."""
    known = {**HELP, **LOOP_HELP}
    return {**{name: known[name] for name in names}, **texts}
