"""Where the mission is: its mission.yaml, found from a folder or named, and its project root."""

from __future__ import annotations

import os
from pathlib import Path

from mosaic_invoke.errors import CoordError, command
from mosaic_invoke.store.files import expand_user

MISSION_FILE = Path(".mosaic") / "mission.yaml"


def find_mission_file(start: Path) -> Path:
    """Walk up from ``start`` to the first folder holding ``.mosaic/mission.yaml``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / MISSION_FILE
        if candidate.is_file():
            return candidate
    msg = (
        f"no {MISSION_FILE} in {start} or any folder above it; "
        f"run `{command('init')}` to create one, or pass --mission PATH"
    )
    raise CoordError(msg)


def locate_mission(mission: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """The mission.yaml to use: an explicit file or project folder, else found from ``cwd``."""
    cwd = cwd or Path.cwd()
    if not mission:
        return find_mission_file(cwd)
    path = (cwd / expand_user(mission)).resolve()
    if path.is_dir():
        path = path / MISSION_FILE
    if not path.is_file():
        msg = f"{path}: mission file not found; pass a mission.yaml or a folder holding {MISSION_FILE}"
        raise CoordError(msg)
    return path


def project_root(mission_file: Path) -> Path:
    """``<root>/.mosaic/mission.yaml`` belongs to ``<root>``; any other file to its folder."""
    folder = mission_file.parent
    return folder.parent if folder.name == ".mosaic" else folder
