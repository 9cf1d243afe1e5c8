"""The ``coord`` Invoke collection: parse flags, read config, call the package, print."""

from __future__ import annotations

import json as jsonlib
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ._exceptions import CoordError
from ._mission import locate_mission
from ._runtimes import PROMPT, RuntimeSpec, parse_command, parse_runtime

if TYPE_CHECKING:
    from ._plan import Plan, RunOptions

# Every key declared, with scalar defaults: Invoke reads INVOKE_COORD_X only for keys that
# exist, and cannot cast an environment variable onto a list default.
DEFAULTS: dict[str, Any] = {
    "mission": "",
    "runtime": "",
    "template": "",
    "command": "",
    "env": "",
    "runtimes": {},
}


def _setting(c: Context, key: str) -> Any:
    # A parent's ns.configure({"coord": ...}) replaces our whole section: never assume a key.
    section = c.config.get("coord") or {}
    value = section.get(key) if hasattr(section, "get") else None
    return value if value not in ("", None) else DEFAULTS[key] or None


def _report(message: str) -> None:
    print(f"coord: {message}", file=sys.stderr)


@contextmanager
def _exit_on_error() -> Iterator[None]:
    """The one door from the package's errors to Invoke's exit codes."""
    try:
        yield
    except CoordError as error:
        message = "\n".join(f"coord: error: {problem}" for problem in error.problems)
        raise Exit(message, code=error.exit_code) from None


def _pairs(values: Any, source: str) -> dict[str, str]:
    """``KEY=VALUE`` items from a flag list, a config string, or a config mapping."""
    if isinstance(values, Mapping):
        return {str(key): str(value) for key, value in values.items()}
    items = shlex.split(values) if isinstance(values, str) else list(values or ())
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
    argv = parse_command(value)
    if argv is None:
        msg = f"{source}: expected a command line or a list of strings, got {value!r}"
        raise CoordError(msg)
    return argv


def _runtimes(value: Any) -> dict[str, RuntimeSpec]:
    if not value:
        return {}
    if not isinstance(value, Mapping):
        msg = "config `coord.runtimes`: expected a mapping of runtime name to command"
        raise CoordError(msg)
    specs = {}
    for name, item in value.items():
        spec = parse_runtime(item)
        if isinstance(spec, str):
            msg = f"config `coord.runtimes.{name}`: {spec}"
            raise CoordError(msg)
        specs[str(name)] = spec
    return specs


def _mission_file(c: Context, mission: str | None) -> Path:
    return locate_mission(mission or _setting(c, "mission"))


def _run_options(c: Context, **flags: Any) -> RunOptions:
    from ._plan import RunOptions

    return RunOptions(
        task=flags["task"],
        runtime=flags["runtime"] or _setting(c, "runtime"),
        milestone=flags["milestone"],
        print_only=flags.get("print_only", False),
        command=_command(flags["command"], "--command") or _command(_setting(c, "command"), "config `coord.command`"),
        env={
            **_pairs(_setting(c, "env") or {}, "config `coord.env`"),
            **_pairs(flags["env"] or [], "--env"),
        },
        template=flags["template"],
        configured_template=_setting(c, "template"),
        runtimes=_runtimes(_setting(c, "runtimes")),
        force=flags.get("force", False),
        detach=flags.get("detach", False),
    )


def _show_command(plan: Plan) -> str:
    """The launch command with ``{prompt}`` where the prompt goes."""
    return " ".join(PROMPT if part == plan.prompt else shlex.quote(part) for part in plan.argv)


def _launch(c: Context, *, resume: bool, json: bool, mission: str | None, **flags: Any) -> None:
    """``run`` and ``resume``: their flags are spelled out in each signature, as Invoke reads them there."""
    from ._runner import run as run_mission

    with _exit_on_error():
        options = _run_options(c, **flags)
        display = sys.stderr if json else sys.stdout
        outcome = run_mission(_mission_file(c, mission), options, _report, resume=resume, display=display)
    plan = outcome.plan
    if outcome.session is None:
        if json:
            print(jsonlib.dumps({"command": plan.argv, "prompt": plan.prompt, "capsule": plan.capsule}, indent=2))
        else:
            print(f"command: {_show_command(plan)}\n")
            print(plan.prompt)
        return
    session = outcome.session
    if session.running:
        if json:
            print(jsonlib.dumps({"session_id": session.session_id, "pid": session.pid, "log_path": session.log_path}))
        else:
            print(f"session {session.session_id} started in the background: task {plan.task.id}, pid {session.pid}")
            print(f"log: {session.log_path}")
        return
    from ._clock import format_duration

    _report(
        f"session {session.session_id} {session.ended_reason} "
        f"(exit {session.exit_code}, {format_duration(session.duration_seconds)})"
    )
    if json:
        print(jsonlib.dumps(session.to_dict(), indent=2))
    if outcome.exit_code:
        raise Exit(code=outcome.exit_code)


_RUN_HELP = {
    "task": "mission task id to run, e.g. T-012 (default: the next runnable task)",
    "runtime": "agent runtime: claude, codex, or one from `runtimes:` (default: mission.yaml, else claude)",
    "milestone": "milestone id for the prompt and for choosing the next task (default: the task's own)",
    "print-only": "write the capsule, print the launch command and the prompt, start nothing",
    "command": 'launch command, e.g. "my-agent --prompt {prompt}"; without {prompt} the prompt is appended',
    "env": "KEY=VALUE added to the agent's environment (repeatable)",
    "template": "Jinja2 template for the prompt (default: .mosaic/templates/continuation.md.j2, else the packaged one)",
    "json": "print JSON: the command, prompt and capsule with --print-only, else the session",
    "detach": "run the agent in the background with its output in <orchestrator_dir>/logs/<session>.log",
    "mission": "mission.yaml, or the project folder holding .mosaic/mission.yaml (default: found from here upward)",
}


@task(help=_RUN_HELP, iterable=["env"])
def run(
    c: Context,
    task: str | None = None,
    runtime: str | None = None,
    milestone: str | None = None,
    print_only: bool = False,
    command: str | None = None,
    env: list[str] | None = None,
    template: str | None = None,
    detach: bool = False,
    json: bool = False,
    mission: str | None = None,
) -> None:
    """Start an agent session on a task, with a continuation prompt."""
    _launch(
        c,
        resume=False,
        json=json,
        mission=mission,
        task=task,
        runtime=runtime,
        milestone=milestone,
        print_only=print_only,
        command=command,
        env=env,
        template=template,
        detach=detach,
    )


@task(
    help={**_RUN_HELP, "force": "take over a lock written on another host (only once that session has ended)"},
    iterable=["env"],
)
def resume(
    c: Context,
    task: str | None = None,
    runtime: str | None = None,
    milestone: str | None = None,
    print_only: bool = False,
    command: str | None = None,
    env: list[str] | None = None,
    template: str | None = None,
    detach: bool = False,
    json: bool = False,
    mission: str | None = None,
    force: bool = False,
) -> None:
    """Record a crashed session, then run again (the cut-off task by default)."""
    _launch(
        c,
        resume=True,
        json=json,
        mission=mission,
        task=task,
        runtime=runtime,
        milestone=milestone,
        print_only=print_only,
        command=command,
        env=env,
        template=template,
        detach=detach,
        force=force,
    )


@task(
    help={
        "json": "print one JSON object (schema in the README) instead of text",
        "mission": _RUN_HELP["mission"],
    }
)
def status(c: Context, json: bool = False, mission: str | None = None) -> None:
    """Show mission progress, milestones, the next task and recent sessions."""
    from ._status import format_status
    from ._status import status as mission_status

    with _exit_on_error():
        view = mission_status(_mission_file(c, mission))
    for warning in view["warnings"]:
        _report(f"warning: {warning}")
    print(jsonlib.dumps(view, indent=2) if json else format_status(view))


@task(help={"template": "also copy the default prompt template to .mosaic/templates/ for editing"})
def init(c: Context, template: bool = False) -> None:
    """Create .mosaic/mission.yaml and docs/TASKS.md in the current folder."""
    from ._scaffold import scaffold

    with _exit_on_error():
        created = scaffold(Path.cwd(), with_template=template)
    for path in created:
        print(f"created {path}")
    print("next: edit them, then `invoke coord.run --print-only` to see the first prompt")


@task(
    help={
        "output": "write the page to this file instead of <orchestrator_dir>/report.html",
        "open": "then open the page in the default web browser",
        "mission": _RUN_HELP["mission"],
    }
)
def report(c: Context, output: str | None = None, open: bool = False, mission: str | None = None) -> None:
    """Write the mission's report page: one self-contained HTML file; print its path."""
    from ._files import display_path
    from ._report import open_report, write_report

    with _exit_on_error():
        path = write_report(_mission_file(c, mission), Path(output) if output else None)
    print(display_path(path))
    if open and not open_report(path):
        _report(f"no web browser found; open {path} in one")


def make_collection() -> Collection:
    """A fresh ``coord`` collection (Invoke's parser consumes task help: one per Program run)."""
    collection = Collection("coord", run, resume, status, init, report)
    collection.configure({"coord": dict(DEFAULTS)})
    return collection


coord = make_collection()
