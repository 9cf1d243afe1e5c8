"""What the commands print: a run's outcome, a loop's start and summary (stdout holds JSON with --json)."""

from __future__ import annotations

import json as jsonlib
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from invoke.exceptions import Exit

from mosaic_invoke.errors import CoordError
from mosaic_invoke.terminal import printable

if TYPE_CHECKING:
    from pathlib import Path

    from mosaic_invoke.config.scaffold import Scaffolded
    from mosaic_invoke.session.plan import Plan
    from mosaic_invoke.session.runner import Outcome
    from mosaic_invoke.store.loopfile import LoopRecord

Report = Callable[[str], None]


def report(message: str) -> None:
    """A line of coord's own on stderr (``coord: ...``), control characters escaped."""
    print(f"coord: {printable(message)}", file=sys.stderr)


def say(text: str) -> None:
    """Print text that may hold an agent's, a task's or a path's control characters, escaped."""
    print(printable(text))


@contextmanager
def exit_on_error() -> Iterator[None]:
    """The one door from the package's errors to Invoke's exit codes."""
    try:
        yield
    except CoordError as error:
        message = "\n".join(f"coord: error: {printable(problem)}" for problem in error.problems)
        raise Exit(message, code=error.exit_code) from None


def show_command(plan: Plan) -> str:
    """The launch command with ``{prompt}`` where the prompt goes."""
    from mosaic_invoke.agents.runtimes import PROMPT  # loaded by the preview that calls this anyway

    return " ".join(PROMPT if part == plan.prompt else shlex.quote(part) for part in plan.argv)


def print_run(outcome: Outcome, *, json: bool, report: Report) -> int:
    """Print what `run` or `resume` did; returns the exit code (the agent's, in the foreground)."""
    plan, session = outcome.plan, outcome.session
    if session is None:
        if json:
            say(jsonlib.dumps({"command": plan.argv, "prompt": plan.prompt, "capsule": plan.capsule}, indent=2))
        else:
            say(f"command: {show_command(plan)}\n")
            say(plan.prompt)
        return 0
    from mosaic_invoke.session.record import ended_line  # a preview never loads what follows an agent

    if session.running:
        if json:
            say(jsonlib.dumps({"session_id": session.session_id, "pid": session.pid, "log_path": session.log_path}))
        else:
            say(f"session {session.session_id} started in the background: task {plan.task.id}, pid {session.pid}")
            say(f"log: {session.log_path}")
        return 0
    report(ended_line(session))
    if json:
        say(jsonlib.dumps(session.to_dict(), indent=2))
    return outcome.exit_code


def print_loop_started(started: Mapping[str, Any], *, json: bool) -> None:
    if json:
        say(jsonlib.dumps(started))
    elif "stop_reason" in started:
        reason, detail = started["stop_reason"], started["stop_detail"]
        say(f"loop {started['loop_id']} stopped before its first session: {reason} ({detail})")
    else:
        say(f"loop {started['loop_id']} started in the background: pid {started['pid']}")
        say(f"log: {started['log_path']}")


def print_loop(record: LoopRecord, *, json: bool, report: Report) -> tuple[int, str | None]:
    """Print a loop's summary; returns its exit code, and the error line when it stopped on one."""
    # Only `loop` prints this: the loop's modules (some 30 ms) are not loaded for `run` or `status`.
    from mosaic_invoke.loop.loop import exit_code
    from mosaic_invoke.loop.view import split_detail, summary_lines

    code = exit_code(record.stop_reason)
    for line in summary_lines(record, problems=code != 1):  # an error says its reason once, last
        report(line)
    if json:
        say(jsonlib.dumps(record.summary(), indent=2))
    if code != 1:
        return code, None
    problems = split_detail(record.stop_detail)[0] or [record.stop_reason or "error"]
    problems[0] = f"the loop stopped: {problems[0]}"
    return code, "\n".join(f"coord: error: {printable(problem)}" for problem in problems)


def print_init(done: Scaffolded, folder: Path, *, gitignore: bool, report: Report) -> None:
    """What `init` made, what to add to .gitignore, and a mission above that it now hides."""
    # Only `init` prints this: what it needs is loaded with it, not by every command.
    from mosaic_invoke.config.locate import find_mission_file
    from mosaic_invoke.config.scaffold import IGNORED
    from mosaic_invoke.errors import CoordError, command

    if done.created:
        try:
            above = find_mission_file(folder.resolve().parent)
            report(f"note: {above} already holds a mission; commands run in this folder now use the new one")
        except CoordError:
            pass  # none above: the usual case
    for path in done.created:
        say(f"created {path}")
    if done.ignored == "added":
        say(f"added {IGNORED} to .gitignore")
    elif done.ignored == "present" and gitignore:
        say(f".gitignore already holds {IGNORED}")
    elif done.ignored == "missing":
        say(f"add {IGNORED} to .gitignore: coord's state, locks and logs are not for git")
        say(f"(`{command('init')} --gitignore` adds it)")
    if done.created:
        say(f"next: edit them, then `{command('run')} --print-only` to see the first prompt")
