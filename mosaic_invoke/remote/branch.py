"""The mission's branch on the remote: fetched before a host chooses, moved only as gated.

Landing through the remote is the merge queue's compare-and-swap with the remote as the
branch: ``git push --force-with-lease=refs/heads/<branch>:<tested base>``, so what lands is
the commit the gates passed on, on top of the base they passed on, or nothing.
"""

from __future__ import annotations

from mosaic_invoke.remote.transport import Moved, Patience, Remote, Report, Swapped, fetch, local_git, swap


def tracking_ref(remote: Remote, branch: str) -> str:
    """Where this clone keeps the remote's branch: ``refs/remotes/<remote>/<branch>``."""
    return f"refs/remotes/{remote.name}/{branch}"


def fetch_branch(remote: Remote, branch: str, patience: Patience, report: Report) -> str | None:
    """Bring the remote's ``branch`` here (its tracking ref); its commit, or None when the remote
    has no such branch."""
    ref = f"refs/heads/{branch}"
    if not fetch(remote, (f"+{ref}:{tracking_ref(remote, branch)}",), patience, report):
        return None
    # The tracking ref as fetched: a landing meanwhile is seen at the next fetch, and its push
    # expects this value, so it cannot go over it.
    return local_git(remote.repo, "rev-parse", "--verify", "--quiet", f"{tracking_ref(remote, branch)}^{{commit}}")


def push_branch(
    remote: Remote, branch: str, new: str, tested_base: str, patience: Patience, report: Report
) -> Swapped | Moved:
    """Move the remote's ``branch`` from ``tested_base`` to ``new``; `Moved` (nothing changed) when
    another host landed first: rebase on what it holds, gate again, push again."""
    ref = f"refs/heads/{branch}"
    pushed = swap(remote, ref, tested_base, new, patience, report)
    if isinstance(pushed, Swapped):  # the tracking ref follows, as a plain push would move it
        local_git(remote.repo, "update-ref", tracking_ref(remote, branch), new)
    return pushed
