"""The reviewer (SPEC section 17): what it judges (a claim), what it said (its record), the
runtime it runs on (another than the worker's, read-only) and its prompt (task, acceptance
criteria, the session's diff cut to a size)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from mosaic_invoke.agents.runtimes import DEFAULT_RUNTIME, PRESETS, Runtime, resolve_runtime
from mosaic_invoke.config.gates import Review
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session import git
from mosaic_invoke.session.prompt import render
from mosaic_invoke.store.files import display_path, expand_user
from mosaic_invoke.tasks.task import Task

TEMPLATE = "review.md.j2"
PROJECT_TEMPLATE = Path(".mosaic") / "templates" / TEMPLATE
DIFF_LIMIT = 60 * 1024
"""Bytes of the diff the prompt shows: with the rest, the prompt fits one argument of any runtime."""
REASONS_LIMIT = 2000
"""Characters of a reject's reasons kept in the record and the next prompt."""


class Claim(NamedTuple):
    """What a reviewer judges: a session's task, as the session began, and what git recorded."""

    session_id: str
    worker: str
    """The runtime that did the work."""
    task: Task
    acceptance: tuple[str, ...]
    head_before: str | None
    head_after: str | None
    commits: int = 0
    dirty: bool = False


@dataclass(frozen=True, kw_only=True)
class Reviewed:
    """What the reviewer said: the session record's ``review``."""

    runtime: str
    verdict: str | None
    """``accept``, ``reject``, or None: no verdict, the claim is left to the gates."""
    reasons: str | None = None
    """What a reject says is missing or wrong."""
    reason: str | None = None
    """Why there is no verdict."""
    log_path: str | None = None
    cost_usd: float | None = None
    telemetry: Mapping[str, Any] | None = None
    """Tokens and turns, as the reviewer's runtime reported them."""
    duration_seconds: int = 0
    interrupted: bool = False
    """coord was sent SIGINT, SIGTERM or SIGHUP, or asked to stop now, while the reviewer ran."""

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "runtime": self.runtime,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "log_path": self.log_path,
            "cost_usd": self.cost_usd,
        }
        if self.verdict is None:
            record["reason"] = self.reason
        record.update(self.telemetry or {})
        record["duration_seconds"] = self.duration_seconds
        if self.interrupted:
            record["interrupted"] = True
        return record

    def said(self) -> str:
        """One line for people: ``review (codex): reject, its review in .../sess-004.review.jsonl``
        (the reasons are said with the rejection)."""
        if self.verdict is None:
            return f"review ({self.runtime}): no verdict, the claim is left to the gates: {self.reason}"
        return f"review ({self.runtime}): {self.verdict}, its review in {self.log_path}"


def reviewer_runtime(mission: Mission, review: Review, worker: str) -> Runtime:
    """The reviewer's runtime (a preset or one of mission.yaml's `runtimes:`), read-only whatever
    its configuration says: the one `review:` names, else the first of `runtime_fallback`, the
    mission's runtime and the built-in presets that is not the worker's."""
    configured = dict(mission.runtimes)
    candidates = (*mission.runtime_fallback, mission.runtime or DEFAULT_RUNTIME, *PRESETS)
    name = review.runtime or next((candidate for candidate in candidates if candidate != worker), DEFAULT_RUNTIME)
    read_only = {key: replace(spec, permissions="read-only") for key, spec in configured.items()}
    return resolve_runtime(name, read_only, permissions="read-only")


def find_review_template(mission: Mission, review: Review) -> Path | None:
    """`review: {template: ...}` (from the project root), else the project's
    ``.mosaic/templates/review.md.j2``, else None: the packaged one."""
    if review.template:
        path = mission.resolve(str(expand_user(review.template)))
        if not path.is_file():
            msg = f"{display_path(mission.config_path)}: `verify.review.template`: {display_path(path)} not found"
            raise CoordError(msg)
        return path
    project = mission.root / PROJECT_TEMPLATE
    return project if project.is_file() else None


def review_prompt(mission: Mission, review: Review, claim: Claim, runtime: Runtime) -> str:
    diff = git.diff(mission.root, claim.head_before, claim.head_after, DIFF_LIMIT)
    longest = max((len(run) for run in re.findall(r"`+", diff.text)), default=0) if diff else 0
    context = {
        "mission": mission,
        "task": claim.task,
        "acceptance": claim.acceptance,
        "session_id": claim.session_id,
        "worker": claim.worker,
        "runtime": runtime,
        "diff": diff,
        "fence": "`" * max(3, longest + 1),
        "base": (claim.head_before or "")[:12] or "(the empty tree)",
        "head": (claim.head_after or "")[:12],
        "commits": claim.commits,
        "dirty": claim.dirty,
        "vars": mission.vars,
    }
    return render(find_review_template(mission, review), context, default=TEMPLATE)
