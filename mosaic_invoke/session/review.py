"""The reviewer: once the gates pass, a second agent reads the claim's diff and gives a verdict.

It is launched like any runtime (``{prompt}`` in its argv), read-only, in the project root,
with the session's ``MOSAIC_*`` variables and ``MOSAIC_REVIEW=1``. The last ``VERDICT:``
line of what it says decides; anything else (no such line, a failure, a timeout) leaves
the claim to the gates and says why.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from mosaic_invoke.agents import Reader, log_suffix, reader_for
from mosaic_invoke.agents.runtimes import DEFAULT_RUNTIME, PRESETS, Runtime, RuntimeSpec, agent_env, resolve_runtime
from mosaic_invoke.config.gates import Review
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session import git
from mosaic_invoke.session.plan import new_uuid
from mosaic_invoke.session.process import start_gated
from mosaic_invoke.session.prompt import render
from mosaic_invoke.session.watch import Limits, watch
from mosaic_invoke.store.clock import format_span
from mosaic_invoke.store.files import display_path, expand_user, write_atomic
from mosaic_invoke.store.state import LOGS_DIR
from mosaic_invoke.tasks.task import Task

TEMPLATE = "review.md.j2"
PROJECT_TEMPLATE = Path(".mosaic") / "templates" / TEMPLATE
DIFF_LIMIT = 60 * 1024
"""Bytes of the diff the prompt shows: with the rest, the prompt fits one argument of any runtime."""
REASONS_LIMIT = 2000
"""Characters of a reject's reasons kept in the record and the next prompt."""
_VERDICT = re.compile(
    r"[\s>*_`#-]*VERDICT[\s*_`]*:[\s*_`]*(?P<word>accept|reject)(?:ed)?\b[\s*_`]*(?::(?P<reasons>.*?))?[\s*_`]*",
    re.IGNORECASE,
)


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
        """One line for people: ``review (codex): reject: no test for the empty password``."""
        if self.verdict == "reject":
            return f"review ({self.runtime}): reject: {self.reasons}"
        if self.verdict == "accept":
            return f"review ({self.runtime}): accept"
        return f"review ({self.runtime}): no verdict, the claim is left to the gates: {self.reason}"


def reviewer_runtime(
    mission: Mission, review: Review, worker: str, runtimes: Mapping[str, RuntimeSpec] | None = None
) -> Runtime:
    """The reviewer's runtime, read-only whatever its configuration says: the one `review:` names,
    else the first of `runtime_fallback`, the mission's runtime and the built-in presets that is
    not the worker's."""
    configured = {**mission.runtimes, **(runtimes or {})}
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


def run_review(
    mission: Mission,
    review: Review,
    claim: Claim,
    env: Mapping[str, str],
    *,
    runtimes: Mapping[str, RuntimeSpec] | None = None,
    display: IO[str] | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> Reviewed:
    """Run the reviewer on ``claim`` to its end; never raises for what the reviewer does."""
    began = time.monotonic()
    logs = mission.orchestrator_path / LOGS_DIR
    name = review.runtime or "reviewer"
    try:
        runtime = reviewer_runtime(mission, review, claim.worker, runtimes)
        name = runtime.name
        prompt = review_prompt(mission, review, claim, runtime)
        prompt_file = logs / f"{claim.session_id}.review.prompt.md"
        write_atomic(prompt_file, prompt.encode("utf-8", "surrogateescape"))
        invocation = runtime.invocation(prompt, session_uuid=new_uuid(), prompt_file=prompt_file)
    except CoordError as error:
        return Reviewed(runtime=name, verdict=None, reason=str(error))
    log_path = logs / f"{claim.session_id}.review{log_suffix(runtime.output)}"
    reader = reader_for(runtime.output)
    found: dict[str, str | None] = {}

    def on_line(raw: bytes) -> None:
        log.write(raw + b"\n")
        log.flush()
        shown = reader.feed(raw.decode("utf-8", "replace"))
        for line in shown:
            matched = _VERDICT.fullmatch(line)
            if matched is not None:
                found["word"], found["reasons"] = matched["word"].lower(), (matched["reasons"] or "").strip()
        if display is not None and shown:
            display.write("".join(f"  review: {line}\n" for line in shown))
            display.flush()

    read_end, write_end = os.pipe()
    try:
        with log_path.open("ab") as log:
            try:
                with open(prompt_file if invocation.stdin == "prompt" else os.devnull, "rb") as stdin:
                    agent = start_gated(
                        invocation.argv,
                        mission.root,
                        agent_env({**env, "MOSAIC_REVIEW": "1"}),
                        stdin=stdin.fileno(),
                        stdout=write_end,
                        stderr=write_end,
                        new_session=True,
                    )
            finally:
                os.close(write_end)
            watched = watch(
                agent.process, read_end, on_line, Limits(session=review.timeout), stop_requested, started=agent.go
            )
    except CoordError as error:  # no such program, not executable
        return Reviewed(runtime=name, verdict=None, reason=str(error), log_path=str(log_path))
    finally:
        os.close(read_end)
    telemetry = reader.telemetry()
    result: dict[str, Any] = {
        "runtime": name,
        "log_path": str(log_path),
        "cost_usd": telemetry.get("cost_usd"),
        "telemetry": {key: telemetry[key] for key in _TOKENS if key in telemetry},
        "duration_seconds": int(time.monotonic() - began),
    }
    if watched.timed_out:
        return Reviewed(verdict=None, reason=f"the reviewer ran past its {format_span(review.timeout)}", **result)
    if watched.interrupted or watched.signalled:
        return Reviewed(verdict=None, reason="the reviewer was interrupted", interrupted=True, **result)
    if "word" in found:
        reasons = (found["reasons"] or "no reasons given")[:REASONS_LIMIT] if found["word"] == "reject" else None
        return Reviewed(verdict=found["word"], reasons=reasons, **result)
    return Reviewed(verdict=None, reason=_no_verdict(watched.exit_code, reader, telemetry), **result)


_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "num_turns")


def _no_verdict(exit_code: int, reader: Reader, telemetry: Mapping[str, Any]) -> str:
    """Why a reviewer that ended by itself gave no verdict, in its own words where it has some."""
    wall = reader.verdict(datetime.now().astimezone())
    if wall is not None:
        return f"the reviewer could not work: {wall.message}"
    said = str(telemetry.get("final_message") or "").strip().splitlines()
    last = f"; its last words: {said[-1][:200]}" if said else ""
    if exit_code != 0:
        return f"the reviewer failed (exit {exit_code}){last}"
    return f"the reviewer gave no `VERDICT:` line{last}"
