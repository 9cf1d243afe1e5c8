"""A task's claim across hosts: a ref on the shared remote that only one host can create (SPEC 16).

``<claims_ref>/<mission>/claims/<task>`` points at a commit (empty tree) whose message is the
claim as JSON: host, lane, session id, started_at, heartbeat. A host claims a task by pushing
with a lease on "absent", renews its claim by pushing the next commit (a child of the last, so
that hosts refusing non-fast-forward pushes take it) with a lease on the value it last pushed,
releases it by a leased delete, and takes a stale claim over with a lease on the stale value.
Whoever's commit the ref holds owns the task: each claim commit is unique (a nonce), so no two
hosts can both believe they won.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mosaic_invoke.errors import CoordError
from mosaic_invoke.remote.claim import Claim, ClaimSpace, Taken, from_fields, ref_part, same_holder
from mosaic_invoke.remote.transport import (
    Moved,
    Patience,
    Report,
    Swapped,
    fetch,
    local_git,
    read_refs,
    swap,
)
from mosaic_invoke.store.clock import now_iso
from mosaic_invoke.store.liveness import hostname

IDENTITY = ("-c", "user.name=mosaic-coord", "-c", "user.email=mosaic-coord@localhost")
"""Who claim commits are by: coord's own bookkeeping, never the user's work."""


def claim(
    space: ClaimSpace,
    task_id: str,
    patience: Patience,
    report: Report,
    *,
    lane: int | None = None,
    session_id: str | None = None,
) -> Claim | Taken:
    """Claim ``task_id`` for this host: the push fails if the ref exists, so one host wins."""
    mine = _make(space, task_id, None, lane=lane, session_id=session_id, started_at=None)
    return _settle(space, mine, swap(space.remote, space.ref(task_id), None, mine.commit, patience, report), patience)


def renew(
    space: ClaimSpace, held: Claim, patience: Patience, report: Report, *, session_id: str | None = None
) -> Claim | Taken:
    """The heartbeat: push the next value of our claim, expecting the last one we pushed. `Taken`:
    another host took it over (or it was cleared): the session must stop. ``session_id``: the
    session that now works under the claim (a claim is made before its session is planned)."""
    mine = _make(
        space,
        held.task_id,
        held.commit,
        lane=held.lane,
        session_id=session_id or held.session_id,
        started_at=held.started_at,
    )
    swapped = swap(space.remote, space.ref(held.task_id), held.commit, mine.commit, patience, report)
    got = _settle(space, mine, swapped, patience)
    if isinstance(got, Taken) and got.by is not None and same_holder(got.by, held):
        # A renewal of ours that got through unconfirmed: renew from it.
        return renew(space, got.by, patience, report, session_id=session_id)
    return got


def release(space: ClaimSpace, held: Claim, patience: Patience, report: Report) -> Taken | None:
    """Delete our claim, expecting the value we last pushed; `Taken` when it was no longer ours."""
    swapped = swap(space.remote, space.ref(held.task_id), held.commit, None, patience, report)
    if isinstance(swapped, Swapped):
        return None
    found = _read_one(space, held.task_id, swapped.current, patience)
    if found is not None and same_holder(found, held):
        return release(space, found, patience, report)  # a renewal of ours that got through unconfirmed
    return Taken(found)


def take_over(
    space: ClaimSpace,
    stale: Claim,
    patience: Patience,
    report: Report,
    *,
    lane: int | None = None,
    session_id: str | None = None,
) -> Claim | Taken:
    """Replace a stale claim with ours, expecting the stale value: if its host renewed it meanwhile,
    or a third host took it first, ours fails."""
    parent = stale.commit if _have(space.remote.repo, stale.commit) else None
    mine = _make(space, stale.task_id, parent, lane=lane, session_id=session_id, started_at=None)
    swapped = swap(space.remote, space.ref(stale.task_id), stale.commit, mine.commit, patience, report)
    return _settle(space, mine, swapped, patience)


def read_claims(space: ClaimSpace, patience: Patience, report: Report) -> dict[str, Claim]:
    """Every claim of the mission on the remote, by task id; the commits this clone lacks fetched."""
    found = read_refs(space.remote, f"{space.prefix}/*", patience, report)
    values = {task: commit for ref, commit in found.items() if (task := space.task_of(ref)) is not None}
    repo = space.remote.repo
    if any(not _have(repo, commit) for commit in values.values()):
        refspec = f"+{space.prefix}/*:{space.seen_prefix}/*"
        fetch(space.remote, (refspec,), patience, report)
    return {task: _read(repo, task, commit) for task, commit in sorted(values.items())}


def _settle(space: ClaimSpace, mine: Claim, swapped: Swapped | Moved, patience: Patience) -> Claim | Taken:
    if isinstance(swapped, Swapped):
        return mine
    return Taken(_read_one(space, mine.task_id, swapped.current, patience))


def _read_one(space: ClaimSpace, task_id: str, commit: str | None, patience: Patience) -> Claim | None:
    """The claim at ``commit`` (the value found instead of ours), read once: the caller has
    already lost, so a fault here only leaves the winner unnamed."""
    if commit is None:
        return None
    repo = space.remote.repo
    if not _have(repo, commit):
        once = Patience(total=0.0, answer=patience.answer)
        try:
            fetch(space.remote, (f"+{space.ref(task_id)}:{space.seen_prefix}/{ref_part(task_id)}",), once, _quiet)
        except CoordError:  # the claim is someone else's all the same
            return Claim(task_id, commit)
    return _read(repo, task_id, commit)


def _make(
    space: ClaimSpace,
    task_id: str,
    parent: str | None,
    *,
    lane: int | None,
    session_id: str | None,
    started_at: str | None,
) -> Claim:
    """A new claim commit in this clone: its message the claim as JSON, unique by its nonce.

    ``started_at`` None: a claim made now, its start its first heartbeat (one clock reading)."""
    repo = space.remote.repo
    now = now_iso()
    fields: dict[str, Any] = {
        "task_id": task_id,
        "host": hostname(),
        "lane": lane,
        "session_id": session_id,
        "started_at": started_at or now,
        "heartbeat": now,
        "checkout": str(repo),
        "pid": os.getpid(),
    }
    message = json.dumps({**fields, "nonce": secrets.token_hex(8)}, sort_keys=True)
    tree = _empty_tree(repo)
    parents = ("-p", parent) if parent else ()
    commit = local_git(repo, *IDENTITY, "commit-tree", tree, *parents, "-m", message)
    return from_fields(task_id, commit, fields)


def _read(repo: Path, task_id: str, commit: str) -> Claim:
    """The claim a commit's message holds; only its task and value when it cannot be read."""
    try:
        message = local_git(repo, "cat-file", "commit", commit).partition("\n\n")[2]
        fields = json.loads(message)
    except (CoordError, ValueError):  # a ref someone wrote by hand still names a claim
        return Claim(task_id, commit)
    return from_fields(task_id, commit, fields if isinstance(fields, Mapping) else {})


@functools.cache
def _empty_tree(repo: Path) -> str:
    """The empty tree, written once per clone and process (every claim commit has it)."""
    return local_git(repo, "mktree", stdin="")


def _have(repo: Path, commit: str) -> bool:
    try:
        local_git(repo, "cat-file", "-e", f"{commit}^{{commit}}")
    except CoordError:  # not here, or not a commit: fetch it
        return False
    return True


def _quiet(message: str) -> None:
    """Reading the winner of a claim already lost is not worth a line per retry."""
