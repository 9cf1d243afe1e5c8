"""The merge queue: land a lane's work on the mission's branch, one lane at a time, only as gated.

Landing a task: commit what the agent left uncommitted, rebase the lane onto the mission's
branch, add the landing commit (the branch's tasks file with only this task's status cell set
to ``done``), run the gates in the lane on that commit, then move the branch to exactly it by
compare-and-swap (``git update-ref <branch> <new> <old>``); if the branch moved meanwhile, all
of it again on the new head. Nothing here runs in the main checkout but ``update-ref`` and,
when it is clean and on the branch, the fast-forward of its files (``read-tree -m -u``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import fasteners

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.loop.lanes import Lane, base_ref, close_lane, tasks_in_repo
from mosaic_invoke.session.gitcmd import GitFailed, commit_of, git, identity, run, show, top_level
from mosaic_invoke.session.verify import GateRun
from mosaic_invoke.store.clock import now_iso
from mosaic_invoke.store.files import display_path, write_atomic, write_json_atomic
from mosaic_invoke.store.liveness import hostname, process_start_time
from mosaic_invoke.store.loopfile import LANDING_FILE
from mosaic_invoke.tasks.tasksfile import TaskStatus, parse

LANDING_LOCK_FILE = "landing.lock"
MAX_REBASES = 10
"""Times a landing starts again because the branch moved under it, before it gives up for now."""
Gates = Callable[[Path], "GateRun | None"]
"""Run the gates in a lane's project folder on the commit checked out there; None: no gates."""


@dataclass(frozen=True)
class Landed:
    """The mission's branch moved to ``commit``: the commit the gates passed on."""

    commit: str
    previous: str
    rebases: int
    """How many times the lane was rebased: 1 unless the branch moved while the gates ran."""
    gates: GateRun | None
    checkout: str | None = None
    """Why the main checkout's files were left as they were, if they were (it was not clean)."""


@dataclass(frozen=True)
class Rejected:
    """The claim did not land: the branch is as it was, the lane's branch kept for the next attempt."""

    because: str
    """For the record's ``rejected_because``: ``conflict in src/x.py, src/y.py``, or the gates' failure."""
    conflicts: tuple[str, ...] = ()
    gates: GateRun | None = None


class Target(Protocol):
    """Where a landing goes: the branch's head now, and its compare-and-swap."""

    def head(self) -> str | None: ...

    def move(self, new: str, old: str) -> tuple[bool, str | None]:
        """Move the branch from ``old`` to ``new``: whether it moved (False: it held something
        else, nothing changed), and why the main checkout's files were left alone, if they were."""
        ...


@dataclass(frozen=True)
class LocalBranch:
    """The mission's branch in this repository, moved by ``git update-ref`` (SPEC 15)."""

    mission: Mission
    branch: str

    def head(self) -> str | None:
        return commit_of(self.mission.root, f"refs/heads/{self.branch}")

    def move(self, new: str, old: str) -> tuple[bool, str | None]:
        root, ref = self.mission.root, f"refs/heads/{self.branch}"
        swapped = run(root, "update-ref", "-m", "coord: land", ref, new, old)
        if swapped.returncode == 0:
            return True, update_checkout(root, self.branch, old, new)
        if commit_of(root, ref) == old:
            msg = f"{display_path(root)}: branch `{self.branch}` could not be moved: {swapped.stderr.strip()}"
            raise GitFailed(msg)
        return False, None


def land(
    mission: Mission,
    lane: Lane,
    mission_branch: str,
    session_id: str,
    gates: Gates,
    target: Target | None = None,
) -> Landed | Rejected:
    """Land ``lane``'s task on ``mission_branch`` (one landing at a time: `landing_lock`);
    ``target``: where it goes, the branch in this repository unless the remote's."""
    target = target or LocalBranch(mission, mission_branch)
    tasks_name = tasks_in_repo(mission)
    worktree = lane.worktree
    who = identity(worktree)
    with landing_lock(mission.orchestrator_path), _said(mission.orchestrator_path, lane.task_id, session_id):
        _keep_leftovers(worktree, tasks_name, who, f"{lane.task_id}: what session {session_id} left uncommitted")
        for rebases in range(1, MAX_REBASES + 1):
            old = target.head()
            if old is None:
                msg = (
                    f"{display_path(mission.root)}: branch `{mission_branch}` is gone; task {lane.task_id} cannot land"
                )
                raise CoordError(msg)
            conflicts = _rebase(worktree, old, tasks_name, who)
            if conflicts:
                return Rejected(f"conflict in {', '.join(conflicts)}", conflicts)
            rebased = _head(worktree)
            refused = _landing_commit(worktree, tasks_name, old, lane.task_id, session_id, who, mission)
            if refused:
                return Rejected(refused)
            new = _head(worktree)
            gated = gates(lane.project)
            if gated is not None and not gated.passed:
                git(worktree, "reset", "--quiet", "--hard", rebased)  # the claim stays off the lane's branch too
                timeout = mission.verify.timeout if mission.verify else 0.0
                return Rejected(gated.failure(timeout), gates=gated)
            moved, checkout = target.move(new, old)
            if moved:
                return Landed(new, old, rebases, gated, checkout)
            git(worktree, "reset", "--quiet", "--hard", rebased)  # the branch moved: again, on its new head
    return Rejected(
        f"`{mission_branch}` moved {MAX_REBASES} times while {lane.task_id} was being checked; it is tried again"
    )


def leave_lane(mission: Mission, lane: Lane, branch: str, message: str, report: Callable[[str], None]) -> None:
    """Keep what the agent left uncommitted on the lane's branch, then remove the worktree (and
    the branch, once the mission's branch holds all of it)."""
    done = landed(mission, lane, branch)
    if lane.worktree.exists() and not done:  # a landing left nothing uncommitted
        try:
            keep_leftovers(lane.worktree, mission, message)
        except CoordError as error:
            report(f"warning: lane {lane.task_id}'s uncommitted work was not kept: {error}")
        done = landed(mission, lane, branch)
    close_lane(mission, lane, delete_branch=done)


def landed(mission: Mission, lane: Lane, branch: str) -> bool:
    """Whether the lane's branch holds nothing that ``branch`` lacks."""
    found = run(mission.root, "merge-base", "--is-ancestor", f"refs/heads/{lane.branch}", base_ref(mission, branch))
    return found.returncode == 0


@contextmanager
def landing_lock(orchestrator: Path) -> Iterator[None]:
    """One landing at a time, across processes: the merge queue."""
    orchestrator.mkdir(parents=True, exist_ok=True)
    lock = fasteners.InterProcessLock(str(orchestrator / LANDING_LOCK_FILE))
    try:
        lock.acquire()
    except (OSError, threading.ThreadError):
        where = display_path(orchestrator / LANDING_LOCK_FILE)
        msg = f"{where}: cannot take the landing lock; check that the folder is writable"
        raise CoordError(msg) from None
    try:
        yield
    finally:
        lock.release()


def keep_leftovers(worktree: Path, mission: Mission, message: str) -> None:
    """Commit on the lane's branch what its agent changed and did not commit (a session that
    did not finish keeps its work for the next one); the tasks file is left out."""
    _keep_leftovers(worktree, tasks_in_repo(mission), identity(worktree), message)


@contextmanager
def _said(orchestrator: Path, task_id: str, session_id: str) -> Iterator[None]:
    """landing.json names the landing under way, for `status`."""
    path = orchestrator / LANDING_FILE
    pid = os.getpid()
    record = {"task_id": task_id, "session_id": session_id, "since": now_iso(), "pid": pid}
    write_json_atomic(path, {**record, "pid_started_at": process_start_time(pid), "host": hostname()})
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _keep_leftovers(worktree: Path, tasks_name: str, who: tuple[str, ...], message: str) -> None:
    """Commit what the agent changed and did not commit, all but the tasks file: the landing
    commit sets that file, so that neighbouring rows never conflict."""
    run(worktree, "checkout", "--quiet", "HEAD", "--", tasks_name)
    git(worktree, "add", "--all")
    if run(worktree, "diff", "--cached", "--quiet").returncode != 0:
        git(worktree, *who, "commit", "--quiet", "--no-verify", "-m", message)


def _rebase(worktree: Path, onto: str, tasks_name: str, who: tuple[str, ...]) -> tuple[str, ...]:
    """Rebase the lane's branch onto ``onto``; the files in conflict if it cannot (the rebase
    then undone). A conflict in the tasks file alone takes the branch's side: its rows travel
    only through the landing commit."""
    result = run(worktree, *who, "rebase", "--quiet", onto)
    while result.returncode != 0:
        unmerged = tuple(git(worktree, "diff", "--name-only", "--diff-filter=U", "-z").split("\0"))
        unmerged = tuple(name for name in unmerged if name)
        if not _rebasing(worktree):
            said = (result.stderr or result.stdout).strip().splitlines()
            msg = f"{worktree}: `git rebase {onto[:12]}` failed: {said[-1] if said else 'it said nothing'}"
            raise GitFailed(msg)
        others = tuple(name for name in unmerged if name != tasks_name)
        if others or not unmerged:
            run(worktree, "rebase", "--abort")
            if not others:
                said = (result.stderr or result.stdout).strip().splitlines()
                msg = f"{worktree}: `git rebase {onto[:12]}` stopped: {said[-1] if said else 'it said nothing'}"
                raise GitFailed(msg)
            return others
        if run(worktree, "checkout", "--quiet", "--ours", "--", tasks_name).returncode == 0:
            git(worktree, "add", "--", tasks_name)
        else:  # gone on one side: the branch's side
            git(worktree, "rm", "--quiet", "--cached", "--ignore-unmatch", "--", tasks_name)
        step = "--continue" if run(worktree, "diff", "--cached", "--quiet").returncode != 0 else "--skip"
        result = run(worktree, *who, "rebase", step)
    return ()


def _landing_commit(
    worktree: Path, tasks_name: str, base: str, task_id: str, session_id: str, who: tuple[str, ...], mission: Mission
) -> str | None:
    """Commit the tasks file of ``base`` with only ``task_id``'s status cell set to done; why not, if it cannot be."""
    text = show(worktree, base, tasks_name)
    if text is None:
        return f"the tasks file {tasks_name} is not on the mission's branch"
    try:
        tasks = parse(mission.tasks_path, text)
    except CoordError as error:
        return f"the tasks file on the mission's branch does not parse: {error.problems[0]}"
    status = tasks.status_of(task_id)
    if status is None:
        return f"task {task_id} is no longer in the tasks file on the mission's branch"
    if status is TaskStatus.DONE:  # landed by another session meanwhile: its `done` lands once
        return f"task {task_id} is done on the mission's branch already"
    write_atomic(worktree / tasks_name, tasks.with_status(task_id, TaskStatus.DONE).encode("utf-8"))
    git(worktree, "add", "--", tasks_name)
    if run(worktree, "diff", "--cached", "--quiet").returncode != 0:
        git(worktree, *who, "commit", "--quiet", "--no-verify", "-m", f"{task_id}: done (session {session_id})")
    return None


def update_checkout(repo: Path, branch: str, old: str, new: str) -> str | None:
    """Bring the main checkout's files from ``old`` to ``new`` when it is on ``branch`` and
    clean; else leave every file as it is and say why (None: updated, or on another branch)."""
    if run(repo, "symbolic-ref", "--quiet", "HEAD").stdout.strip() != f"refs/heads/{branch}":
        return None  # its files are another branch's: the landing did not move them
    top = top_level(repo) or repo
    run(top, "update-index", "-q", "--refresh")  # a file only touched is not a change
    clean = (
        run(top, "diff-index", "--quiet", "--cached", old, "--").returncode == 0
        and run(top, "diff-index", "--quiet", old, "--").returncode == 0
    )
    advice = (
        f"its files are those of {old[:12]} while `{branch}` is at {new[:12]}: before you commit, run "
        f"`git read-tree -m -u {old[:12]} {new[:12]}`, which brings them up to date and keeps your changes"
    )
    if not clean:
        return f"the main checkout has uncommitted changes, so coord left them and every file alone: {advice}"
    updated = run(top, "read-tree", "-m", "-u", old, new)
    if updated.returncode != 0:
        said = updated.stderr.strip().splitlines()
        return f"the main checkout's files were left alone ({said[0] if said else 'git refused'}): {advice}"
    return None


def _head(worktree: Path) -> str:
    found = commit_of(worktree, "HEAD")
    if found is None:
        msg = f"{worktree}: no commit checked out"
        raise GitFailed(msg)
    return found


def _rebasing(worktree: Path) -> bool:
    """Whether a rebase stopped halfway in ``worktree`` (its own, not the main checkout's)."""
    for name in ("rebase-merge", "rebase-apply"):
        path = git(worktree, "rev-parse", "--git-path", name, check=False)
        if path and (worktree / path).exists():
            return True
    return False
