"""The git commands coord runs in a checkout (lanes, landing, claims): each one checked, its
failure said in one line; never an editor, a pager or a prompt for a password."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mosaic_invoke.errors import CoordError

IDENTITY = ("-c", "user.name=mosaic-coord", "-c", "user.email=mosaic-coord@localhost")
"""Who coord's own commits are by, where git knows nobody (``user.email`` unset)."""


class GitFailed(CoordError):
    """A git command coord ran failed; its message is git's first line of complaint."""


def git(cwd: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None) -> str:
    """``git ARGS`` in ``cwd``; its output, stripped. A failure raises `GitFailed` unless ``check``
    is off (then the output of a failure is returned as ``""``)."""
    result = run(cwd, *args, env=env)
    if result.returncode != 0:
        if not check:
            return ""
        said = (result.stderr or result.stdout).strip().splitlines()
        why = next((line for line in said if line.startswith(("fatal:", "error:"))), said[0] if said else "")
        msg = f"{cwd}: `git {' '.join(args)}` failed (exit {result.returncode}): {why or 'it said nothing'}"
        raise GitFailed(msg)
    return result.stdout.strip()


QUIET = {"GIT_EDITOR": "true", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
"""The environment every git coord runs gets: no editor, pager or password prompt; its words in English."""


def run(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``git ARGS`` in ``cwd`` as it ran, ``stdin`` its input (none: /dev/null)."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **(env or {}), **QUIET},
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        msg = f"{cwd}: `git {' '.join(args)}` could not run: {exc}"
        raise GitFailed(msg) from None


def show(cwd: Path, revision: str, path: str) -> str | None:
    """The text of ``path`` at ``revision``, every byte as committed; None when it is not there."""
    result = run(cwd, "show", f"{revision}:{path}")
    return result.stdout if result.returncode == 0 else None


def identity(cwd: Path) -> tuple[str, ...]:
    """The ``-c`` options that give coord's commits an author where git has none configured."""
    known = (
        run(cwd, "var", "GIT_COMMITTER_IDENT").returncode == 0 and run(cwd, "var", "GIT_AUTHOR_IDENT").returncode == 0
    )
    return () if known else IDENTITY


def top_level(cwd: Path) -> Path | None:
    """The top folder of the work tree holding ``cwd``, or None outside one."""
    found = git(cwd, "rev-parse", "--show-toplevel", check=False)
    return Path(found) if found else None


def commit_of(cwd: Path, ref: str) -> str | None:
    """The commit ``ref`` names, or None."""
    return git(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False) or None
