"""Lanes: a git worktree per running task, on a branch of its own, and which tasks may run at once."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mosaic_invoke.config.mission import Milestone, Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.gitcmd import commit_of, git, run, show, top_level
from mosaic_invoke.store.files import display_path
from mosaic_invoke.tasks.selection import runnable
from mosaic_invoke.tasks.tasksfile import Task, TasksFile, parse

LANES_DIR = "lanes"
_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True)
class Lane:
    """One task's worktree and branch."""

    task_id: str
    branch: str
    """``coord/<mission id>/<task id>``."""
    worktree: Path
    """``<orchestrator_dir>/lanes/<task id>``: the top of the worktree."""
    project: Path
    """The project's root inside the worktree (the worktree itself unless the project is a
    folder of its repository)."""


def lane_branch(mission_id: str, task_id: str) -> str:
    return f"coord/{mission_id}/{task_id}"


def lanes_folder(mission: Mission) -> Path:
    return mission.orchestrator_path / LANES_DIR


def lane_of(mission: Mission, task_id: str) -> Lane:
    """Where task ``task_id``'s lane is (whether or not it exists)."""
    worktree = lanes_folder(mission) / task_id
    return Lane(task_id, lane_branch(mission.id, task_id), worktree, worktree / _project_within(mission))


def base_ref(mission: Mission, mission_branch: str) -> str:
    """The ref lanes start from and land on: the mission's branch, or with `remote` (SPEC 16)
    that branch on the remote as last fetched (``refs/remotes/origin/main``)."""
    if mission.remote is not None:
        return f"refs/remotes/{mission.remote.name}/{mission_branch}"
    return f"refs/heads/{mission_branch}"


def open_lane(mission: Mission, task_id: str, mission_branch: str) -> Lane:
    """A worktree for ``task_id`` on its own branch: the branch kept from an earlier attempt
    (a rejected claim keeps it), else a new one from the head of ``mission_branch``. A worktree
    left at that place by a loop that died is removed first."""
    lane = lane_of(mission, task_id)
    repo = mission.root
    close_lane(mission, lane, delete_branch=False)  # a leftover of a killed loop
    lane.worktree.parent.mkdir(parents=True, exist_ok=True)
    if commit_of(repo, f"refs/heads/{lane.branch}") is not None:
        git(repo, "worktree", "add", "--quiet", str(lane.worktree), lane.branch)
    else:
        head = commit_of(repo, base_ref(mission, mission_branch))
        if head is None:
            msg = f"{display_path(repo)}: no branch `{mission_branch}` to start task {task_id}'s lane from"
            raise CoordError(msg)
        git(repo, "worktree", "add", "--quiet", "-b", lane.branch, str(lane.worktree), head)
    return lane


def close_lane(mission: Mission, lane: Lane, *, delete_branch: bool) -> None:
    """Remove the lane's worktree (``git worktree remove``, then ``prune``), and its branch
    when ``delete_branch`` (it landed); a branch is kept when its claim was rejected."""
    repo = mission.root
    # Twice forced: also a worktree with changes, or locked (as `git worktree add` locks one
    # while it works, and leaves it so when killed), or whose folder is gone.
    run(repo, "worktree", "remove", "--force", "--force", str(lane.worktree))
    if lane.worktree.is_symlink() or lane.worktree.is_file():
        lane.worktree.unlink()
    elif lane.worktree.exists():  # not a registered worktree: a copy half made by a killed loop
        shutil.rmtree(lane.worktree)
    git(repo, "worktree", "prune", check=False)
    if delete_branch and commit_of(repo, f"refs/heads/{lane.branch}") is not None:
        git(repo, "branch", "--quiet", "-D", lane.branch)


def stale_lanes(mission: Mission, live: Iterable[str] = ()) -> list[Lane]:
    """The lanes whose worktree is still there (registered with git or only a folder) and whose
    task is not in ``live``: what a loop that died left behind."""
    folder = lanes_folder(mission)
    keep = set(live)
    found: set[str] = set()
    with contextlib.suppress(OSError):  # no lanes yet
        found.update(entry.name for entry in folder.iterdir())
    listing = git(mission.root, "worktree", "list", "--porcelain", check=False)
    for line in listing.splitlines():
        path = Path(line.removeprefix("worktree ")) if line.startswith("worktree ") else None
        if path is not None and path.parent == folder.resolve():
            found.add(path.name)
    return [lane_of(mission, task_id) for task_id in sorted(found - keep)]


def mission_branch(mission: Mission, lanes: int) -> str:
    """The branch lanes land on: the one checked out in the project, which must be a git work
    tree with its tasks file committed there. Refuses, saying what to do, before a loop starts."""
    top = top_level(mission.root)
    why = "mission.yaml's `remote`" if mission.remote is not None else f"--lanes {lanes}"
    if top is None:
        msg = (
            f"{mission.root}: not in a git work tree; {why} runs each session in a git "
            "worktree: run `git init`, commit the mission, then start the loop again"
        )
        raise CoordError(msg)
    branch = git(mission.root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if not branch:
        msg = f"{mission.root}: no branch is checked out; {why} lands work on one: check it out"
        raise CoordError(msg)
    if mission.remote is None:  # with a remote, on the remote's branch: read once it is fetched
        branch_tasks(mission, branch)  # committed there, and valid
    return branch


def branch_tasks(mission: Mission, mission_branch: str) -> TasksFile:
    """The tasks file as it stands on ``mission_branch``: the one lanes choose from (a task is
    done once it landed there)."""
    text = show(mission.root, base_ref(mission, mission_branch), tasks_in_repo(mission))
    if text is None:
        where = f"{mission.remote.name}/{mission_branch}" if mission.remote else mission_branch
        msg = (
            f"{display_path(mission.tasks_path)}: not on branch `{where}`; "
            "lanes read the tasks file from the mission's branch: commit it there"
        )
        raise CoordError(msg)
    return parse(mission.tasks_path, text)


def choose(
    mission: Mission,
    tasks: TasksFile,
    running: Mapping[str, Sequence[str]],
    free: int,
    *,
    milestone: Milestone | None = None,
    skip: Iterable[str] = (),
) -> list[Task]:
    """Up to ``free`` tasks to start now, in the order a single lane would take them.

    ``tasks`` is the file as it stands on the mission's branch (dependencies count as done
    once they landed); ``running`` maps each running task to its ``paths`` globs. A running
    task is never chosen again, and a task whose globs overlap those of a running or chosen
    task waits; a task without ``paths`` runs beside any other. ``skip``: tasks not to start
    (e.g. those that ran out of attempts).
    """
    chosen: list[Task] = []
    busy = dict(running)
    passed = set(skip)
    for task in runnable(mission, tasks, milestone=milestone):
        if len(chosen) >= free:
            break
        if task.id in busy or task.id in passed:
            continue
        if any(globs_overlap(task.paths, theirs) for theirs in busy.values()):
            continue
        chosen.append(task)
        busy[task.id] = task.paths
    return chosen


def globs_overlap(mine: Sequence[str], theirs: Sequence[str]) -> bool:
    """Whether two tasks' ``paths`` may name a file in common (never when either has none)."""
    return any(overlap(a, b) for a in mine for b in theirs)


def overlap(a: str, b: str) -> bool:
    """Two globs overlap when the fixed part of one is a path-prefix of the other's.

    The fixed part is made of the whole path components before the first wildcard
    (``src/api/*.py`` -> ``src/api``; ``**/x.py`` -> nothing, which every path starts with),
    so that ``src/a*`` and ``src/ab.py`` overlap while ``src/a.py`` and ``src/ab.py`` do not.
    """
    fixed_a, fixed_b = _fixed(a), _fixed(b)
    shorter, longer = sorted((fixed_a, fixed_b), key=len)
    return longer[: len(shorter)] == shorter


def _fixed(glob: str) -> tuple[str, ...]:
    parts = [part for part in PurePosixPath(glob.strip()).parts if part not in ("", ".")]
    fixed = []
    for part in parts:
        if _WILDCARDS & set(part):
            break
        fixed.append(part.rstrip("/"))
    return tuple(fixed)


def tasks_in_repo(mission: Mission) -> str:
    """The tasks file's path within its repository, as ``git show`` takes it."""
    top = top_level(mission.root)
    if top is None:
        msg = f"{display_path(mission.root)}: not in a git work tree; lanes need one (`git init`, then commit)"
        raise CoordError(msg)
    try:
        return mission.tasks_path.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        msg = f"{display_path(mission.tasks_path)}: outside the repository at {top}; lanes need it inside"
        raise CoordError(msg) from None


def _project_within(mission: Mission) -> Path:
    """The project root's place within its repository (``.`` at its top)."""
    top = top_level(mission.root)
    if top is None:
        return Path()
    try:
        return mission.root.resolve().relative_to(top.resolve())
    except ValueError:
        return Path()
