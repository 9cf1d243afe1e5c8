"""Landing through the shared remote (SPEC 16): the merge queue's branch is the remote's.

The lane rebases onto the remote branch as fetched, is gated there, and lands by a push that
expects the base it was gated on (`remote.branch.push_branch`); if another host landed first,
all of it again on the new head. The push happens only under a claim still this host's: a
renewal right before it, and a claim lost stops the landing (`ClaimLost`). Once landed, this
clone's own branch and, when clean, its files follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.loop.landing import update_checkout
from mosaic_invoke.remote.board import patience_of
from mosaic_invoke.remote.branch import fetch_branch, push_branch
from mosaic_invoke.remote.claim import Claim, Taken
from mosaic_invoke.remote.transport import Moved, Remote, Report
from mosaic_invoke.session.gitcmd import commit_of, run

CHECKOUT_LOCK_FILE = "checkout.lock"


class ClaimLost(CoordError):
    """The claim on the task went to another host before its work could land."""

    def __init__(self, taken: Taken, task_id: str) -> None:
        super().__init__(lost_line(taken, task_id))
        self.taken = taken


def lost_line(taken: Taken, task_id: str) -> str:
    """``claim on T-3 taken over by host b (lane 1, session sess-004) at 10:42:07``."""
    by = taken.by
    if by is None:
        return f"claim on {task_id} cleared on the remote (deleted by hand, or released by another host)"
    return f"claim on {task_id} taken over by host {by.host or '?'}{_details(by)} at {by.started_at or '?'}"


def held_line(taken: Taken, task_id: str) -> str:
    """``T-3 is claimed by host b (lane 1, session sess-004) since 2026-...``."""
    by = taken.by
    if by is None:
        return f"{task_id} was claimed by another host"
    return f"{task_id} is claimed by host {by.host or '?'}{_details(by)} since {by.started_at or '?'}"


def _details(by: Claim) -> str:
    said = [f"lane {by.lane}" if by.lane is not None else "", f"session {by.session_id}" if by.session_id else ""]
    joined = ", ".join(part for part in said if part)
    return f" ({joined})" if joined else ""


@dataclass(frozen=True)
class RemoteBranch:
    """The mission's branch on the remote, as `landing.land` moves it."""

    mission: Mission
    remote: Remote
    branch: str
    keep: Callable[[], Taken | None]
    """Renew the claim now; how it was lost, if it was."""
    task_id: str
    report: Report

    def head(self) -> str | None:
        return fetch_branch(self.remote, self.branch, patience_of(self.mission), self.report)

    def move(self, new: str, old: str) -> tuple[bool, str | None]:
        lost = self.keep()
        if lost is not None:
            raise ClaimLost(lost, self.task_id)
        pushed = push_branch(self.remote, self.branch, new, old, patience_of(self.mission), self.report)
        if isinstance(pushed, Moved):
            return False, None
        return True, follow_local(self.mission, self.branch, new)


def follow_local(mission: Mission, branch: str, new: str) -> str | None:
    """Fast-forward this clone's ``branch`` to ``new`` (the remote's), and the main checkout's
    files with it when it is clean and on it; why not, if not."""
    root, ref = mission.root, f"refs/heads/{branch}"
    with _checkout_lock(mission.orchestrator_path):
        local = commit_of(root, ref)
        if local == new:
            return None
        if local is not None and run(root, "merge-base", "--is-ancestor", local, new).returncode != 0:
            remote = mission.remote.name if mission.remote else "the remote"
            return (
                f"branch `{branch}` here has commits that `{remote}/{branch}` lacks, so coord left it as it is: "
                f"merge `{remote}/{branch}` into it, or push it"
            )
        if run(root, "update-ref", "-m", "coord: follow the remote", ref, new, local or "").returncode != 0:
            return None  # moved meanwhile: the next look brings it up to date
        return update_checkout(root, branch, local, new) if local is not None else None


@contextmanager
def _checkout_lock(orchestrator: Path) -> Iterator[None]:
    """One process at a time moves this clone's branch and its files (a lane landing, the loop polling)."""
    import fasteners  # only a mission with a remote needs it

    orchestrator.mkdir(parents=True, exist_ok=True)
    lock = fasteners.InterProcessLock(str(orchestrator / CHECKOUT_LOCK_FILE))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
