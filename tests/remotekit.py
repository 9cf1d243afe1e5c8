"""What the remote tests share: one bare repository standing for the shared remote, clones of it
standing for hosts, and the git they run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mosaic_invoke.remote.claim import ClaimSpace, claim_space
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


LANE_AGENT = Path(__file__).parent / "agents_for_loop" / "lane_agent.py"


def tasks_table(count: int, *, depends: dict[str, str] | None = None) -> str:
    """A tasks file of ``count`` tasks T-01, T-02, ..., none done (``depends``: task -> its dependency)."""
    rows = [
        f"| T-{n:02d} | not-started | Task {n} | {(depends or {}).get(f'T-{n:02d}', '')} |" for n in range(1, count + 1)
    ]
    header = "# Tasks\n\n| id | status | description | depends_on |\n|----|--------|-------------|------------|\n"
    return header + "\n".join(rows) + "\n"


def shared_mission(tmp_path: Path, hosts: int, tasks: str, *, claim_ttl: str = "2s") -> tuple[Path, list[Path]]:
    """A mission on a shared remote (``remote: origin``, a short ``claim_ttl``), and ``hosts``
    clones of it, each with its own orchestrator folder (ignored by git), standing for hosts."""
    mission = f"id: demo\nname: Demo mission\nremote: origin\nclaim_ttl: {claim_ttl}\n"
    files = {
        ".mosaic/mission.yaml": mission + "protocol_file: .mosaic/PROTOCOL.md\n",
        ".mosaic/PROTOCOL.md": "# protocol\n",
        "docs/MISSION-MANIFEST.md": "# manifest\n",
        "docs/scratchpads/demo.md": "# scratchpad\n",
        "docs/TASKS.md": tasks,
        ".gitignore": ".mosaic/orchestrator/\n",
    }
    return shared_remote(tmp_path, hosts, files)


def agent_command(mode: str) -> str:
    """The stand-in lane agent in ``mode`` (see its docstring) as `--command` takes it."""
    return f"{sys.executable} {LANE_AGENT} {mode}"


def landed_done(bare: Path) -> list[str]:
    """The landing commits on the shared branch, oldest first: ``T-01: done (session sess-001)``."""
    subjects = git(bare, "log", "--reverse", "--format=%s", "main").splitlines()
    return [subject for subject in subjects if ": done (session " in subject]


def remote_tasks(bare: Path) -> dict[str, str]:
    """Each task's status cell in the tasks file on the shared branch."""
    found = {}
    for line in git(bare, "show", "main:docs/TASKS.md").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith("T-"):
            found[cells[0]] = cells[1]
    return found
