"""The continuation prompt: template lookup, the Jinja2 environment, rendering, the capsule.

Jinja2 is imported inside the functions that render, so that commands which never
render a prompt (``coord.status``) do not pay for it.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaic_invoke.agents.runtimes import Runtime
from mosaic_invoke.config.mission import Milestone, Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.templatecheck import check_blocks, explain_undefined
from mosaic_invoke.store.clock import format_duration
from mosaic_invoke.store.files import display_path, expand_user
from mosaic_invoke.store.session import Session
from mosaic_invoke.tasks.selection import Progress
from mosaic_invoke.tasks.tasksfile import Task

if TYPE_CHECKING:
    import jinja2

DEFAULT_TEMPLATE = "continuation.md.j2"
PACKAGED_PREFIX = "mosaic"
PROJECT_TEMPLATE = Path(".mosaic") / "templates" / DEFAULT_TEMPLATE


def packaged_templates() -> Path:
    """The default templates: inside the installed package, else beside a checkout."""
    # The package is always installed as files (a wheel is unpacked): its folder, without
    # importlib.resources' readers (some 1 ms).
    package = Path(__file__).resolve().parents[1]
    packaged = package / "templates"
    if packaged.is_dir():
        return packaged
    # Editable installs and plain checkouts: hatchling's force-include only builds wheels.
    return package.parent / "templates"


def find_template(mission: Mission, flag: str | None, configured: str | None) -> Path | None:
    """The template to render: flag, config, mission.yaml, the project's, else None (packaged)."""
    candidates = (
        (flag, Path.cwd(), "--template"),
        (configured, mission.root, "config `coord.template`"),
        (mission.template, mission.root, f"{display_path(mission.config_path)}: `template`"),
    )
    for value, base, source in candidates:
        if value:
            path = (base / expand_user(value)).resolve()
            if not path.is_file():
                msg = f"{source}: template {display_path(path)} not found"
                raise CoordError(msg)
            return path
    project = mission.root / PROJECT_TEMPLATE
    return project if project.is_file() else None


def render(
    template: Path | None, context: Mapping[str, Any], *, default: str = DEFAULT_TEMPLATE, html: bool = False
) -> str:
    """Render ``template`` (None: the packaged ``default``) with ``context``; ``html`` escapes every value."""
    import jinja2  # here: Jinja2 is the largest import of all (some 25 ms), and `status` never renders

    if template is None:
        environment = _environment(None, html)
        name = f"{PACKAGED_PREFIX}/{default}"
    else:
        environment = _environment(str(template.parent), html)
        name = template.name
    try:
        if template is not None:
            check_blocks(environment, name, display_path(template))
        text = environment.get_template(name).render(context)
        # A lone surrogate (a "\ud800" escape in state.json) has no UTF-8: kept as its escape.
        return text.encode("utf-8", "backslashreplace").decode()
    except CoordError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        where = f"{display_path(Path(exc.filename))}:{exc.lineno}" if exc.filename else name
        msg = f"{where}: template syntax error: {exc.message}"
    except jinja2.TemplateNotFound as exc:
        where = _location(exc, template, name)
        msg = f"{where}: template {exc.name!r} not found (the packaged ones are under `{PACKAGED_PREFIX}/`)"
    except jinja2.UndefinedError as exc:
        msg = f"{_location(exc, template, name)}: {explain_undefined(exc.message or '', context)}"
    except Exception as exc:  # noqa: BLE001 - any error inside a user's template is the user's to fix
        msg = f"{_location(exc, template, name)}: template error: {exc}"
    raise CoordError(msg)


def _location(exc: BaseException, template: Path | None, name: str) -> str:
    """``file:line`` of the innermost template frame (Jinja rewrites frames to template lines)."""
    roots = {str(packaged_templates())}
    if template is not None:
        roots.add(str(template.parent))
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if any(frame.filename.startswith(root) for root in roots):
            return f"{display_path(Path(frame.filename))}:{frame.lineno}"
    return display_path(template) if template else name


@functools.cache
def _environment(search_dir: str | None, html: bool = False) -> jinja2.Environment:
    # One environment per folder and kind: compiled templates are cached and never re-parsed.
    import jinja2  # as in `render`

    loaders: list[jinja2.BaseLoader] = [
        jinja2.PrefixLoader({PACKAGED_PREFIX: jinja2.FileSystemLoader(packaged_templates())})
    ]
    if search_dir is not None:
        loaders.append(jinja2.FileSystemLoader(search_dir))
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=html,  # noqa: S701 - off for the prompt: markdown for an agent, not HTML
        auto_reload=True,  # a loop runs for days: an edited template is read again
    )
    environment.filters["duration"] = format_duration
    return environment


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs, keyed by their source (Jinja checks it)."""
    import jinja2  # as in `render`

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "mosaic-invoke" / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # no cache then: templates compile on each run
    if not os.access(folder, os.W_OK | os.X_OK):
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def build_context(
    *,
    mission: Mission,
    task: Task,
    runtime: Runtime,
    progress: Progress,
    milestone: Milestone | None,
    previous_session: Session | None,
    branch: str | None,
    acceptance: tuple[str, ...] = (),
    previous_task_status: str | None = None,
) -> dict[str, Any]:
    """The template's context; ``previous_task_status`` is the previous session's task's status now."""
    return {
        "mission": mission,
        "task": task,
        "acceptance": acceptance,
        "runtime": runtime,
        "progress": progress,
        "milestone": milestone,
        "previous_session": previous_session,
        "previous_task_status": previous_task_status,
        "branch": branch,
        "vars": mission.vars,
    }


def capsule(
    *,
    generated_at: str,
    mission: Mission,
    task: Task,
    runtime: Runtime,
    progress: Progress,
    milestone: Milestone | None,
    branch: str | None,
    acceptance: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``next-task.json``: exactly the fields and order the original runner writes, and the
    task's acceptance criteria last when it has any."""
    fields = {
        "generated_at": generated_at,
        "runtime": runtime.name,
        "mission_id": mission.id,
        "mission_name": mission.name,
        "project_path": str(mission.root),
        "quality_gates": mission.quality_gates or "",
        "current_milestone": {
            "id": milestone.id if milestone else "",
            "name": milestone.name if milestone else "",
        },
        "next_task": task.id,
        "progress": {"tasks_done": progress.done, "tasks_total": progress.total, "pct": progress.pct},
        "current_branch": branch or "",
    }
    if acceptance:
        fields["acceptance"] = list(acceptance)
    return fields
