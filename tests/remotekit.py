"""What the remote tests share: one bare repository standing for the shared remote, clones of it
standing for hosts, and the git they run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mosaic_invoke.remote.claims import ClaimSpace, claim_space
from mosaic_invoke.remote.transport import Patience, Remote

PATIENT = Patience(total=120.0, first=0.05, most=0.5, answer=60.0)
"""Retries close together (the tests' remote is a folder), for long enough on a loaded machine."""


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """``git ARGS`` in ``cwd`` with an author; its output, stripped."""
    names = {"GIT_AUTHOR_NAME": "Test", "GIT_COMMITTER_NAME": "Test"}
    mails = {"GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_EMAIL": "test@example.com"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **names, **mails}, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def shared_remote(tmp_path: Path, hosts: int, files: dict[str, str] | None = None) -> tuple[Path, list[Path]]:
    """A bare repository with one commit on `main` (``files``, else a README), and ``hosts``
    clones of it, each as a host would have (``host1``, ``host2``, ...)."""
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    for name, text in (files or {"README.md": "# project\n"}).items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(text)
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "start")
    git(seed, "push", "-q", str(bare), "main")
    clones = []
    for number in range(1, hosts + 1):
        clone = tmp_path / f"host{number}"
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        clones.append(clone)
    return bare, clones


def space(clone: Path, mission: str = "demo", claims_ref: str = "refs/coord") -> ClaimSpace:
    return claim_space(clone, "origin", claims_ref, mission)


def remote_refs(bare: Path, prefix: str = "refs/coord") -> dict[str, str]:
    """The refs under ``prefix`` in the bare repository, name -> commit."""
    listing = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split(" ", 1) for line in listing.splitlines())


def origin(clone: Path) -> Remote:
    return Remote(clone, "origin")


class Said:
    """A report callback that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
