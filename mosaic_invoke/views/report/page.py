"""``coord.report``: the mission as one self-contained HTML page, rendered from a template.

The page is written atomically to ``<orchestrator_dir>/report.html`` (or ``--output``),
and nothing else is written. Teams restyle it as they restyle the prompt: a project
template ``.mosaic/templates/report.html.j2`` may extend ``mosaic/report.html.j2``.
"""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.errors import command
from mosaic_invoke.remote.board import read_board
from mosaic_invoke.session.git import current_branch
from mosaic_invoke.session.prompt import render
from mosaic_invoke.store.clock import format_duration, now_iso, parse_iso
from mosaic_invoke.store.files import write_atomic, write_private
from mosaic_invoke.store.locks import read_session_lock
from mosaic_invoke.store.loopfile import read_loop
from mosaic_invoke.store.state import load_state
from mosaic_invoke.tasks.tasksfile import load as load_tasks
from mosaic_invoke.views.report.data import Report, summarise
from mosaic_invoke.views.report.rows import ENDINGS, VERDICTS

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"
PROJECT_TEMPLATE = Path(".mosaic") / "templates" / TEMPLATE


def write_report(mission_file: Path, output: Path | None = None) -> Path:
    """Write the mission's report page (default ``<orchestrator_dir>/report.html``); return its path."""
    mission = load_mission(mission_file)
    path = (output or mission.orchestrator_path / REPORT_FILE).absolute()
    report = build_report(mission, path.parent)
    page = render_report(report, mission).encode()  # render() leaves no lone surrogate
    # Its own page is coord's file, private as the state it shows; a page named by --output is the user's.
    # Not fsynced: the page is drawn again from the state.
    (write_atomic if output else write_private)(path, page, durable=False)
    return path


def build_report(mission: Mission, page_dir: Path) -> Report:
    """The report's data, read from the mission's files; a damaged state or tasks file is a `CoordError`."""
    tasks = load_tasks(mission.tasks_path)
    state = load_state(mission.orchestrator_path, mission.id)
    record, problem = read_loop(mission.orchestrator_path)
    loop = None if record is None else record.to_dict()
    warnings = [problem] if problem else []
    newest = state.records[-1] if state.records else None
    if newest is not None and newest.get("ended_at") is None:
        lock, _ = read_session_lock(mission.orchestrator_path)
        if lock is None or lock.session_id != newest.get("session_id") or lock.judge() == "stale":
            warnings.append(
                f"{newest.get('session_id')} has no end recorded and no live process holds its lock: "
                f"it was cut off; `{command('resume')}` records it"
            )
    return summarise(
        mission=mission,
        tasks=tasks,
        state=state,
        loop=loop,
        branch=current_branch(mission.root),
        generated_at=now_iso(),
        page_dir=page_dir,
        warnings=warnings,
        board=read_board(mission.orchestrator_path) if mission.remote else None,
    )


def render_report(report: Report, mission: Mission) -> str:
    """The page's HTML: the project's template if it has one, else the packaged one."""
    project = mission.root / PROJECT_TEMPLATE
    context = {
        "report": report,
        "vars": mission.vars,
        "endings": ENDINGS,
        "verdicts": VERDICTS,
        "usd": format_usd,
        "tokens": format_tokens,
        "when": format_when,
        "duration": format_duration,
    }
    return render(project if project.is_file() else None, context, default=TEMPLATE, html=True)


def open_report(path: Path) -> bool:
    """Open the page in the user's web browser; False when there is none."""
    import webbrowser  # only for --open: it looks for browsers as it loads

    try:
        return webbrowser.open(path.as_uri())
    except webbrowser.Error:
        return False


def format_usd(amount: float | None) -> str:
    """``$12.34``; an em dash when unknown."""
    return "—" if amount is None else f"${amount:,.2f}"


def format_tokens(count: float | None) -> str:
    """``950``, ``12.3k``, ``4.1M``; an em dash when unknown."""
    if count is None:
        return "—"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(int(count))


def format_when(value: str | None) -> str:
    """An ISO time as ``2026-11-20 10:41 UTC``; as written when unreadable, a dash when absent."""
    if not value:
        return "—"
    moment = parse_iso(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if moment else value
