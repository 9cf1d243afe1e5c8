"""The ``coord`` Invoke collection: parse flags, read config, call the package, print.

Each command imports its own modules when it runs (measured with ``python -X importtime``,
some 10-40 ms each): `status` never loads the loop, the report or what launches an agent.
"""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.config.settings import DEFAULTS, loop_caps, mission_file, read_settings, run_options
from mosaic_invoke.console import exit_on_error, print_init, print_loop, print_loop_started, print_run, say
from mosaic_invoke.console import report as tell
from mosaic_invoke.flags import coord_task, help_for
from mosaic_invoke.store.files import display_path
from mosaic_invoke.terminal import printable


def _launch(c: Context, *, resume: bool, json: bool, mission: str | None, **flags: Any) -> None:
    """``run`` and ``resume``: their flags are spelled out in each signature, as Invoke reads them there."""
    from mosaic_invoke.session.runner import run as run_mission  # this command's own modules, when it runs

    with exit_on_error():
        settings = read_settings(c.config)
        path = mission_file(settings, mission)
        loaded = load_mission(path)
        options = run_options(settings, loaded.loop, **flags)
        display = sys.stderr if json else sys.stdout
        if loaded.remote is not None and not options.print_only:  # claimed and landed through it (SPEC 16)
            from mosaic_invoke.loop.remoterun import run_remote  # only a mission with a remote

            outcome = run_remote(path, options, tell, resume=resume, display=display)
        else:
            outcome = run_mission(path, options, tell, resume=resume, display=display)
    code = print_run(outcome, json=json, report=tell)
    if code:
        raise Exit(code=code)


_RUN_FLAGS = (
    *("task", "runtime", "milestone", "print_only", "command", "env", "template", "detach", "json", "mission"),
    *("session_timeout", "idle_timeout", "fresh"),
)


@coord_task(help=help_for(*_RUN_FLAGS), iterable=["env"])
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
    session_timeout: str | None = None,
    idle_timeout: str | None = None,
    fresh: bool = False,
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
        session_timeout=session_timeout,
        idle_timeout=idle_timeout,
        fresh=fresh,
    )


@coord_task(help=help_for(*_RUN_FLAGS, "force"), iterable=["env"])
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
    session_timeout: str | None = None,
    idle_timeout: str | None = None,
    fresh: bool = False,
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
        session_timeout=session_timeout,
        idle_timeout=idle_timeout,
        fresh=fresh,
        force=force,
    )


@coord_task(help=help_for("mission", json="print one JSON object (schema in docs/commands.md) instead of text"))
def status(c: Context, json: bool = False, mission: str | None = None) -> None:
    """Show mission progress, milestones, the next task and recent sessions."""
    from mosaic_invoke.views.status import format_status  # this command's own modules, when it runs
    from mosaic_invoke.views.status import status as mission_status

    with exit_on_error():
        settings = read_settings(c.config)
        view = mission_status(mission_file(settings, mission), settings=settings)
    for warning in view["warnings"]:
        tell(f"warning: {warning}")
    say(jsonlib.dumps(view, indent=2) if json else format_status(view))


@coord_task(
    help={
        "template": "also copy the default prompt template to .mosaic/templates/ to edit (into a mission made before)",
        "gitignore": "add .mosaic/orchestrator/ (coord's state, locks and logs) to .gitignore",
    }
)
def init(c: Context, template: bool = False, gitignore: bool = False) -> None:
    """Create .mosaic/mission.yaml and docs/TASKS.md in the current folder, and the files the prompt names."""
    from mosaic_invoke.config.scaffold import scaffold  # this command's own modules, when it runs

    with exit_on_error():
        done = scaffold(Path.cwd(), with_template=template, gitignore=gitignore)
    print_init(done, Path.cwd(), gitignore=gitignore, report=tell)


@coord_task(
    help=help_for(
        "mission",
        output="write the page to this file instead of <orchestrator_dir>/report.html",
        open="then open the page in the default web browser",
    )
)
def report(c: Context, output: str | None = None, open: bool = False, mission: str | None = None) -> None:
    """Write the mission's report page: one self-contained HTML file; print its path."""
    from mosaic_invoke.views.report.page import (  # this command's own modules, when it runs
        open_report,
        write_report,
    )

    with exit_on_error():
        path = write_report(mission_file(read_settings(c.config), mission), Path(output) if output else None)
    say(display_path(path))
    if open and not open_report(path):
        tell(f"no web browser found; open {path} in one")


@coord_task(
    help=help_for(
        "mission",
        session="the session whose log to show, e.g. sess-007 (default: the running one, else the newest)",
        follow="keep showing the log as it grows, until the session ends",
        raw="show the agent's output as it was written, not the compact view",
    ),
)
def logs(
    c: Context, session: str | None = None, follow: bool = False, raw: bool = False, mission: str | None = None
) -> None:
    """Show a session's output, detached ones too, as the live view shows it.

    The session is a flag (``--session sess-007``): an Invoke task cannot take an optional
    positional argument.
    """
    from mosaic_invoke.views.logs import show_session_log  # this command's own modules, when it runs

    with exit_on_error():
        show_session_log(
            mission_file(read_settings(c.config), mission),
            session or None,
            follow=follow,
            raw=raw,
            write=say,
            report=tell,
        )


_LOOP_FLAGS = ("milestone", "runtime", "command", "env", "template", "detach", "mission", "fresh")
_CAPS = (
    *("max_sessions", "max_hours", "max_failures", "max_attempts", "max_cost", "session_timeout", "idle_timeout"),
    *("pause", "backoff", "max_wait", "max_idle_sessions", "fallback_after", "allow_failing_gates", "lanes"),
)


@coord_task(
    help=help_for(
        *_LOOP_FLAGS,
        *_CAPS,
        json="print only the loop's summary, as one JSON object (the agents' output goes to stderr)",
        detach="run the whole loop in the background, its output in <orchestrator_dir>/logs/<loop id>.log",
    ),
    iterable=["env"],
)
def loop(
    c: Context,
    milestone: str | None = None,
    runtime: str | None = None,
    command: str | None = None,
    env: list[str] | None = None,
    template: str | None = None,
    detach: bool = False,
    json: bool = False,
    mission: str | None = None,
    fresh: bool = False,
    max_sessions: str | None = None,
    max_hours: str | None = None,
    max_failures: str | None = None,
    max_attempts: str | None = None,
    max_cost: str | None = None,
    session_timeout: str | None = None,
    idle_timeout: str | None = None,
    pause: str | None = None,
    backoff: str | None = None,
    max_wait: str | None = None,
    max_idle_sessions: str | None = None,
    fallback_after: str | None = None,
    allow_failing_gates: bool = False,
    lanes: str | None = None,
) -> None:
    """Run sessions one after another (or --lanes at once) until the mission is done or a cap stops them."""
    from mosaic_invoke.loop.loop import run_loop  # this command's own modules, when it runs

    flags = dict(locals())
    del flags["c"]
    with exit_on_error():
        settings = read_settings(c.config)
        path = mission_file(settings, mission)
        mission_loop = load_mission(path).loop
        caps = loop_caps(flags, settings, mission_loop)
        options = run_options(settings, mission_loop, task=None, print_only=False, **flags)
        if detach:
            from mosaic_invoke.loop.detached import start_loop  # only a detached loop starts one

            print_loop_started(
                start_loop(path, options, caps, allow_failing_gates=allow_failing_gates, report=tell), json=json
            )
            return
        display = sys.stderr if json else sys.stdout
        record = run_loop(path, options, caps, allow_failing_gates=allow_failing_gates, report=tell, display=display)
    code, error = print_loop(record, json=json, report=tell)
    if code:
        raise Exit(printable(error) if error else None, code=code)


@coord_task(
    help=help_for(
        "mission",
        now="interrupt the running session too (it is recorded as interrupted), instead of letting it finish",
    )
)
def stop(c: Context, now: bool = False, mission: str | None = None) -> None:
    """Stop the running loop after its current session (or at once, with --now)."""
    from mosaic_invoke.loop.view import stop_loop  # this command's own modules, when it runs

    with exit_on_error():
        said = stop_loop(mission_file(read_settings(c.config), mission), now=now)
    say(said)


def make_collection() -> Collection:
    """A fresh ``coord`` collection, its config declared (``DEFAULTS``)."""
    collection = Collection("coord", run, resume, loop, stop, status, logs, report, init)
    collection.configure({"coord": dict(DEFAULTS)})
    return collection


coord = make_collection()
