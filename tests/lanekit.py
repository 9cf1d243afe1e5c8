"""What the lane tests share: a mission in a real git repository, and git run the way a test reads it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mosaic_invoke.config.mission import Mission, load_mission

MISSION = """\
id: demo
name: Demo mission
"""

TASKS = """\
# Tasks

| id | status | description | depends_on | paths |
|----|--------|-------------|------------|-------|
| T-1 | not-started | One | | src/one |
| T-2 | not-started | Two | | src/two |
| T-3 | not-started | Three | T-1 | |
| T-4 | not-started | Four | | src/one/*.py |
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def make_repo(root: Path, tasks: str = TASKS, *, project: str = "") -> Mission:
    """A repository on branch ``main`` with one commit: a mission (in the folder ``project`` of
    it, at its top by default), its tasks file and ``src/``; coord's folder ignored."""
    folder = root / project if project else root
    (folder / ".mosaic").mkdir(parents=True)
    (folder / "docs").mkdir()
    (folder / ".mosaic" / "mission.yaml").write_text(MISSION)
    (folder / "docs" / "TASKS.md").write_text(tasks)
    (root / "src").mkdir()
    (root / "src" / "shared.py").write_text("one = 1\ntwo = 2\nthree = 3\n")
    (root / ".gitignore").write_text(".mosaic/orchestrator/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return load_mission(folder / ".mosaic" / "mission.yaml")


def commit_file(cwd: Path, name: str, text: str, message: str = "work") -> str:
    (cwd / name).parent.mkdir(parents=True, exist_ok=True)
    (cwd / name).write_text(text)
    git(cwd, "add", "--", name)
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def worktrees(repo: Path) -> list[str]:
    """The paths of the repository's worktrees, the main checkout first."""
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")]


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines()
