"""What coord reads of git: the branch (from .git, no process)."""

from __future__ import annotations

from pathlib import Path


def current_branch(root: Path) -> str | None:
    """The checked-out branch, read from ``.git`` as ``git branch --show-current`` reports it."""
    for folder in (root, *root.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            git_dir = dot_git
        elif dot_git.is_file():
            try:
                text = dot_git.read_text(errors="replace").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            git_dir = (folder / text.removeprefix("gitdir:").strip()).resolve()
        else:
            continue
        try:
            head = (git_dir / "HEAD").read_text(errors="replace").strip()
        except OSError:
            return None
        return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None
    return None
