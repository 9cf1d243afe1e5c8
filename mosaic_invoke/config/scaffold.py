"""``coord.init``: a first mission.yaml and tasks file that teach their own format."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

import yaml

from mosaic_invoke.config.guides import guide_texts
from mosaic_invoke.config.locate import MISSION_FILE
from mosaic_invoke.errors import CoordError, command
from mosaic_invoke.session.prompt import DEFAULT_TEMPLATE, PROJECT_TEMPLATE, packaged_templates
from mosaic_invoke.store.files import display_path, read_text, write_atomic

TASKS_FILE = Path("docs") / "TASKS.md"
GITIGNORE = Path(".gitignore")
IGNORED = ".mosaic/orchestrator/"
"""The line that keeps coord's own files (state, locks, logs) out of git."""

MISSION_YAML = """\
# The mission coord coordinates. Paths are relative to this project's root; write them with /.
id: my-mission                     # required; quote ids that look like numbers or yes/no
name: My mission                   # required; shown in every prompt

# Where things live (commented out: the defaults). The prompt points the agent at the
# manifest, the scratchpad and the protocol; init wrote a first version of each.
# orchestrator_dir: .mosaic/orchestrator   # state.json, session.lock, next-task.json, logs/
# tasks_file: docs/TASKS.md
# manifest_file: docs/MISSION-MANIFEST.md  # the mission's scope
# scratchpad_file: docs/scratchpads/my-mission.md   # notes each session adds to
protocol_file: .mosaic/PROTOCOL.md         # what "done" means here; edit it to fit

# quality_gates: make lint test    # the checks an agent runs before calling a task done
runtime: claude                    # default agent: claude, codex, or one of `runtimes:`
# permissions: workspace           # what a preset agent may do: read-only, workspace or full
# template: .mosaic/templates/continuation.md.j2
# runtimes:                        # your own launch commands; {prompt} marks the prompt
#   aider: [aider, --yes, --message, "{prompt}"]
# vars: {team: payments}           # free values for custom templates: {{ vars.team }}
# verify: {command: make test, timeout: 30m}   # coord checks a task marked done (or: quality_gates)
# hooks: {after_session: invoke notify}        # shell commands, the session as JSON on stdin
# loop: {max_sessions: 20, max_hours: 8}       # caps for coord.loop; `none` turns one off

milestones:                        # in order; status is derived from tasks unless given
  - {id: M1, name: First milestone}
  - {id: M2, name: Second milestone}
"""

TASKS_MD = """\
# Tasks

Every table with an `id` and a `status` column holds tasks, in any column order.
Statuses: not-started, in-progress, done, blocked, failed, cancelled.
`depends_on` lists ids (comma-separated) that must be done first.

| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | not-started | M1 | Describe the first task | |
| T-002 | not-started | M1 | A task that needs the first one | T-001 |
| T-003 | not-started | M2 | A task of the next milestone | T-002 |
"""


class Scaffolded(NamedTuple):
    """What ``init`` did."""

    created: list[str]
    """The files written, as the user sees their paths."""
    ignored: str
    """``added`` (to .gitignore now), ``present`` (it already held the line) or ``missing``."""


def scaffold(folder: Path, *, with_template: bool = False, gitignore: bool = False) -> Scaffolded:
    """Create the mission files in ``folder``, checking every path before writing any.

    Nothing is overwritten. Where a mission exists, ``with_template`` and ``gitignore`` still
    add what they name (the template when it is missing, the .gitignore line).
    """
    files = _planned(folder, with_template=with_template, gitignore=gitignore)
    ignore_file = folder / GITIGNORE
    ignore_text = _read_gitignore(ignore_file)
    ignored = "present" if ignore_text is not None and _ignores(ignore_text) else "missing"
    if gitignore and ignored == "missing":
        files[ignore_file] = _with_line(ignore_text or b"")
    for path in files:
        _check_writable(path, folder)
    # What did not exist before: on a failure, init takes back all of it.
    new = sorted({p for path in files for p in (path, *path.parents) if folder in p.parents and not _exists(p)})
    try:
        for path, content in files.items():
            write_atomic(path, content)
    except CoordError:
        for path in reversed(new):
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()
        raise
    if ignore_file in files:
        ignored = "added"
    return Scaffolded(created=[display_path(p) for p in files if p != ignore_file], ignored=ignored)


def _planned(folder: Path, *, with_template: bool, gitignore: bool) -> dict[Path, bytes]:
    """The files to write, refusing any that exists (or, for a mission, all that was asked)."""
    template = folder / PROJECT_TEMPLATE
    if _exists(folder / MISSION_FILE) and (with_template or gitignore):
        if not with_template or _exists(template):
            if not gitignore:
                _refuse([template])
            return {}
        return {template: _template()}
    files = {folder / MISSION_FILE: MISSION_YAML.encode(), folder / TASKS_FILE: TASKS_MD.encode()}
    if with_template:
        files[template] = _template()
    _refuse([path for path in files if _exists(path)])
    # The files the prompt names: a project's own are kept.
    guides = {folder / name: text.encode() for name, text in guide_texts(yaml.safe_load(MISSION_YAML)).items()}
    return files | {path: text for path, text in guides.items() if not _exists(path)}


def _refuse(existing: list[Path]) -> None:
    if existing:
        names = ", ".join(display_path(path) for path in existing)
        verb, pronoun = ("exist", "them") if len(existing) > 1 else ("exists", "it")
        msg = f"{names} already {verb}; {command('init')} never overwrites (remove {pronoun} to start again)"
        raise CoordError(msg)


def _template() -> bytes:
    return read_text(packaged_templates() / DEFAULT_TEMPLATE, "packaged template").encode()


def _check_writable(path: Path, root: Path) -> None:
    """Every folder on the way to ``path`` is a folder (or can be made), and the nearest is writable."""
    nearest = root
    for part in path.relative_to(root).parts[:-1]:
        step = nearest / part
        if not _exists(step):
            break
        if not step.is_dir():
            msg = f"{display_path(step)}: a file where init needs a folder; move or rename it, then run init again"
            raise CoordError(msg)
        nearest = step
    if path.is_dir():
        msg = f"{display_path(path)}: a folder where init writes a file; move or rename it"
        raise CoordError(msg)
    if not os.access(nearest, os.W_OK | os.X_OK):
        where = display_path(nearest) if nearest != root else str(root)
        msg = f"{where}: folder is not writable; init writes {display_path(path)} there"
        raise CoordError(msg)


def _read_gitignore(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _ignores(text: bytes) -> bool:
    lines = {line.strip().strip(b"/") for line in text.splitlines()}
    return IGNORED.strip("/").encode() in lines


def _with_line(text: bytes) -> bytes:
    return text + (b"\n" if text and not text.endswith(b"\n") else b"") + IGNORED.encode() + b"\n"


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()
