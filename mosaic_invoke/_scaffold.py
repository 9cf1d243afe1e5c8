"""``coord.init``: a first mission.yaml and tasks file that teach their own format."""

from __future__ import annotations

import shutil
from pathlib import Path

from ._exceptions import CoordError
from ._files import display_path, write_atomic
from ._mission import MISSION_FILE
from ._prompt import DEFAULT_TEMPLATE, PROJECT_TEMPLATE, packaged_templates

TASKS_FILE = Path("docs") / "TASKS.md"

MISSION_YAML = """\
# The mission coord coordinates. Paths are relative to this project's root.
id: my-mission                     # required; quote ids that look like numbers or yes/no
name: My mission                   # required; shown in every prompt

# Where things live (these are the defaults):
# orchestrator_dir: .mosaic/orchestrator   # state.json, session.lock, next-task.json, logs/
# tasks_file: docs/TASKS.md
# manifest_file: docs/MISSION-MANIFEST.md
# scratchpad_file: docs/scratchpads/my-mission.md
# protocol_file: ~/.config/mosaic/guides/ORCHESTRATOR.md

# quality_gates: make lint test    # the checks an agent runs before calling a task done
runtime: claude                    # default agent: claude, codex, or one of `runtimes:`
# template: .mosaic/templates/continuation.md.j2
# runtimes:                        # your own launch commands; {prompt} marks the prompt
#   aider: [aider, --yes, --message, "{prompt}"]
# vars: {team: payments}           # free values for custom templates: {{ vars.team }}

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


def scaffold(folder: Path, *, with_template: bool = False) -> list[str]:
    """Create the mission files in ``folder``; refuse if any already exists."""
    files = {folder / MISSION_FILE: MISSION_YAML.encode(), folder / TASKS_FILE: TASKS_MD.encode()}
    template = folder / PROJECT_TEMPLATE
    targets = [*files, template] if with_template else list(files)
    existing = [display_path(path) for path in targets if path.exists()]
    if existing:
        msg = f"{', '.join(existing)} already exists; coord.init never overwrites (remove it to start again)"
        raise CoordError(msg)
    for path, content in files.items():
        write_atomic(path, content)
    if with_template:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(packaged_templates() / DEFAULT_TEMPLATE, template)
    return [display_path(path) for path in targets]
