"""mission.yaml's keys for several machines (SPEC 16): `remote`, `claim_ttl`, `claims_ref`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import yaml

from mosaic_invoke.config.yamlcheck import Entries, NodeChecker
from mosaic_invoke.store.clock import parse_duration

REMOTE_KEYS = ("remote", "claim_ttl", "claims_ref")
DEFAULT_CLAIM_TTL = 600.0
DEFAULT_CLAIMS_REF = "refs/coord"
# A remote's name as `git remote add` takes it, and a ref folder as git allows one.
_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REF_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True, kw_only=True)
class RemoteConfig:
    """Claims and landing through a git remote the hosts share: on with mission.yaml's `remote`."""

    name: str
    """The git remote's name in each clone (``origin``)."""
    claim_ttl: float = DEFAULT_CLAIM_TTL
    """Seconds a claim may go unrenewed, by the observing host's clock, before it is stale."""
    claims_ref: str = DEFAULT_CLAIMS_REF
    """The ref folder of the claims: ``<claims_ref>/<mission>/claims/<task>``."""

    @property
    def heartbeat(self) -> float:
        """Seconds between a claim's renewals (and a waiting loop's polls, at most 10)."""
        return self.claim_ttl / 3


def check_remote(nodes: NodeChecker, entries: Entries, owner: yaml.Node) -> RemoteConfig | None:
    """The three keys, each problem at its line; None without `remote` (then nothing of this runs)."""
    name = nodes.string(entries, "remote", "", owner)
    if name is not None and (not _REMOTE_NAME.fullmatch(name) or name.endswith((".", ".lock"))):
        nodes.problem(entries["remote"][1], "remote", f"{name!r} is not a git remote's name; write one, e.g. origin")
        name = None
    ttl = DEFAULT_CLAIM_TTL
    if "claim_ttl" in entries:
        node = entries["claim_ttl"][1]
        read = parse_duration(nodes.value(node))
        if not read or not math.isfinite(read):
            nodes.problem(node, "claim_ttl", "expected a duration more than 0, e.g. 10m")
        else:
            ttl = read
    claims_ref = nodes.string(entries, "claims_ref", "", owner) or DEFAULT_CLAIMS_REF
    if not _ref_folder(claims_ref):
        nodes.problem(
            entries["claims_ref"][1],
            "claims_ref",
            f"{claims_ref!r} is not a ref folder; write one under refs/, e.g. refs/coord (or refs/heads/coord)",
        )
        return None
    if name is None:
        return None
    return RemoteConfig(name=name, claim_ttl=ttl, claims_ref=claims_ref)


def _ref_folder(value: str) -> bool:
    parts = value.split("/")
    return (
        len(parts) >= 2
        and parts[0] == "refs"
        and all(_REF_PART.fullmatch(part) and ".." not in part and not part.endswith(".lock") for part in parts[1:])
    )
