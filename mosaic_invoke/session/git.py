"""What coord reads of git: the branch (from .git, no process), and what a session changed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import IO, Any, NamedTuple, cast


def current_branch(root: Path) -> str | None:
    """The checked-out branch, read from ``.git`` as ``git branch --show-current`` reports it."""
    git_dir = _git_dir(root)
    if git_dir is None:
        return None
    try:
        head = (git_dir / "HEAD").read_text(errors="replace").strip()
    except OSError:
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None


def in_work_tree(root: Path) -> bool:
    return _git_dir(root) is not None


def head(root: Path) -> str | None:
    """The commit checked out, or None (no git, no work tree, no commit yet)."""
    if not in_work_tree(root):
        return None
    return _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")


def work_tree_state(root: Path, ignore: tuple[Path, ...] = ()) -> str | None:
    """What differs from HEAD in the work tree, without the ``ignore`` paths (coord's own
    bookkeeping): each changed or untracked file with its size and modification time, so
    that more work on a file already changed reads differently. None outside a work tree."""
    top = _top(root)
    if top is None:
        return None
    excluded = []
    for path in ignore:
        try:
            excluded.append(f":(exclude){path.resolve().relative_to(root.resolve()).as_posix()}")
        except ValueError:
            continue  # outside the project: git does not see it anyway
    listing = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".", *excluded, strip=False)
    if listing is None:
        return None
    entries = []
    fields = iter(listing.split("\0"))
    for field in fields:
        if not field:
            continue
        code, name = field[:2], field[3:]
        if "R" in code or "C" in code:
            next(fields, None)  # the path it was renamed or copied from
        try:
            stat = os.lstat(top / name)
        except OSError:
            entries.append(f"{code} {name}")
            continue
        entries.append(f"{code} {name} {stat.st_size} {stat.st_mtime_ns}")
    return "\n".join(entries)


def changes(
    root: Path, head_before: str | None, state_before: str | None, ignore: tuple[Path, ...] = ()
) -> dict[str, Any] | None:
    """``{head_before, head_after, commits, dirty, changed}`` since the session began; None
    outside a work tree. ``changed``: HEAD moved or the work tree differs from before."""
    if not in_work_tree(root):
        return None
    head_after = head(root)
    commits = 0
    if head_after and head_after != head_before:
        span = f"{head_before}..{head_after}" if head_before else head_after
        counted = _git(root, "rev-list", "--count", span)
        commits = int(counted) if counted and counted.isdigit() else 0
    state = work_tree_state(root, ignore)
    return {
        "head_before": head_before,
        "head_after": head_after,
        "commits": commits,
        "dirty": bool(state),
        "changed": head_after != head_before or (state or "") != (state_before or ""),
    }


class Diff(NamedTuple):
    """What ``git diff`` printed, up to a limit: its first bytes (whole lines) and how many it printed."""

    text: str
    shown: int
    """Bytes of ``text`` as git printed them."""
    size: int
    """Bytes git printed in all."""

    @property
    def cut(self) -> bool:
        return self.shown < self.size


def diff(root: Path, base: str | None, head: str | None, limit: int) -> Diff | None:
    """``git diff base head``, its first ``limit`` bytes cut at a line's end; None when git
    cannot say (no work tree, no commit). Read as it comes: a huge diff costs no memory."""
    if head is None or not in_work_tree(root):
        return None
    if base is None:  # no commit before the session: everything since the empty tree
        base = _git(root, "hash-object", "-t", "tree", "--stdin", stdin=b"")
        if base is None:
            return None
    try:
        process = subprocess.Popen(
            ["git", "-C", str(root), "diff", "--no-color", "--no-ext-diff", base, head, "--"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    stdout = cast(IO[bytes], process.stdout)
    with process, stdout:
        kept = stdout.read(limit + 1)
        size = len(kept) + sum(map(len, iter(lambda: stdout.read(1 << 20), b"")))
    if process.returncode != 0:
        return None
    if size > limit:
        kept = kept[: kept.rfind(b"\n", 0, limit) + 1]
    return Diff(kept.decode("utf-8", "replace"), len(kept), size)


def _git(root: Path, *args: str, strip: bool = True, stdin: bytes | None = None) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            input=None if stdin is None else stdin.decode(),
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() if strip else result.stdout


def _top(root: Path) -> Path | None:
    """The folder of the work tree that holds ``root`` (where its ``.git`` is), or None."""
    return next((folder for folder in (root, *root.parents) if (folder / ".git").exists()), None)


def _git_dir(root: Path) -> Path | None:
    for folder in (root, *root.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            try:
                text = dot_git.read_text(errors="replace").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            return (folder / text.removeprefix("gitdir:").strip()).resolve()
    return None
