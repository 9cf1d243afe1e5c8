"""One claim as data (SPEC 16): what it says, which ref holds it, and how it reads from the
message of the commit that ref points at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from mosaic_invoke.remote.transport import Remote

SEEN = "refs/coord-seen"
"""Where a clone keeps the claim commits it fetched, to read them (never pushed)."""


@dataclass(frozen=True)
class Claim:
    """One task's claim as the remote holds it."""

    task_id: str
    commit: str
    """The ref's value: whoever pushed this commit holds the claim."""
    host: str | None = None
    lane: int | None = None
    session_id: str | None = None
    started_at: str | None = None
    """When the claim was first made (the claiming host's clock)."""
    heartbeat: str | None = None
    """When it was last renewed (the claiming host's clock)."""
    checkout: str | None = None
    """The claiming clone's folder on its host: several clones of one host tell apart."""
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "host": self.host,
            "lane": self.lane,
            "session_id": self.session_id,
            "started_at": self.started_at,
            "heartbeat": self.heartbeat,
            "checkout": self.checkout,
            "pid": self.pid,
        }


@dataclass(frozen=True)
class Taken:
    """Another host holds the task (``by``: its claim, when it could be read), or nobody any more
    (``by`` None: the claim was released or cleared meanwhile)."""

    by: Claim | None


@dataclass(frozen=True)
class ClaimSpace:
    """Where one mission's claims live: the remote, and the ref folder of its claims."""

    remote: Remote
    prefix: str
    """``refs/coord/<mission>/claims``."""
    mission: str
    """The mission's id as a ref component."""

    def ref(self, task_id: str) -> str:
        return f"{self.prefix}/{ref_part(task_id)}"

    def task_of(self, ref: str) -> str | None:
        head, _, name = ref.rpartition("/")
        return unquote(name) if head == self.prefix and name else None

    @property
    def seen_prefix(self) -> str:
        """The local copy of the claims, per remote: ``refs/coord-seen/<remote>/<mission>``."""
        return f"{SEEN}/{ref_part(self.remote.name)}/{self.mission}"


def claim_space(repo: Path, remote: str, claims_ref: str, mission_id: str) -> ClaimSpace:
    mission = ref_part(mission_id)
    return ClaimSpace(Remote(repo, remote), f"{claims_ref.rstrip('/')}/{mission}/claims", mission)


def ref_part(text: str) -> str:
    """``text`` as one component of a ref name, reversibly (`unquote`): what git forbids in a
    ref (``/``, ``:``, spaces, ``..``, a leading dot, a ``.lock`` end) percent-encoded."""
    part = quote(text, safe="-_.").replace("~", "%7E").replace("..", ".%2E")
    if part.startswith("."):
        part = "%2E" + part[1:]
    if part.endswith(".lock"):
        part = part[: -len(".lock")] + "%2Elock"
    return part or "%00"


def same_holder(one: Claim, other: Claim) -> bool:
    """Whether two values of a claim are one claim's, renewed: a renewal keeps the host, the
    clone and the moment it was made (to the millisecond); a take-over, even by this clone, does not."""
    return (one.task_id, one.host, one.checkout, one.started_at) == (
        other.task_id,
        other.host,
        other.checkout,
        other.started_at,
    )


def claim_of(fields: Mapping[str, Any]) -> Claim:
    """A claim from `Claim.to_dict` with its ``commit`` (as a lane's supervisor is handed it)."""
    return from_fields(str(fields.get("task_id")), str(fields.get("commit")), fields)


def from_fields(task_id: str, commit: str, fields: Mapping[str, Any]) -> Claim:
    """The claim a commit's message holds (its JSON, read); a field of the wrong type is left out."""

    def text(key: str) -> str | None:
        value = fields.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int | None:
        value = fields.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Claim(
        task_id=task_id,
        commit=commit,
        host=text("host"),
        lane=number("lane"),
        session_id=text("session_id"),
        started_at=text("started_at"),
        heartbeat=text("heartbeat"),
        checkout=text("checkout"),
        pid=number("pid"),
    )
