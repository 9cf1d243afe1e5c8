"""Running the reviewer: a second agent launched like any runtime, read-only, in the project
root, with the session's ``MOSAIC_*`` variables and ``MOSAIC_REVIEW=1``. The last ``VERDICT:``
line of what it says decides; anything else (no such line, a failure, a timeout) leaves the
claim to the gates and says why.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mosaic_invoke.agents import Reader, log_suffix, reader_for
from mosaic_invoke.agents.lines import Lines
from mosaic_invoke.agents.runtimes import agent_env
from mosaic_invoke.config.gates import Review
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.plan import new_uuid
from mosaic_invoke.session.process import start_gated
from mosaic_invoke.session.review import REASONS_LIMIT, Claim, Reviewed, review_prompt, reviewer_runtime
from mosaic_invoke.session.signals import listening
from mosaic_invoke.session.verify import Findings
from mosaic_invoke.session.watch import Limits, watch
from mosaic_invoke.store.clock import format_span
from mosaic_invoke.store.files import open_private, write_private
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOGS_DIR
from mosaic_invoke.tasks.acceptance import criteria
from mosaic_invoke.tasks.tasksfile import load as load_tasks

_VERDICT = re.compile(
    r"[\s>*_`#-]*VERDICT[\s*_`]*:[\s*_`]*(?P<word>accept|reject)(?:ed)?\b[\s*_`]*(?::(?P<reasons>.*?))?[\s*_`]*",
    re.IGNORECASE,
)


def run_review(
    mission: Mission,
    review: Review,
    claim: Claim,
    env: Mapping[str, str],
    *,
    stop_requested: Callable[[], bool] | None = None,
) -> Reviewed:
    """Run the reviewer on ``claim`` to its end; never raises for what the reviewer does."""
    began = time.monotonic()
    logs = mission.orchestrator_path / LOGS_DIR
    name = review.runtime or "reviewer"
    try:
        runtime = reviewer_runtime(mission, review, claim.worker)
        name = runtime.name
        prompt = review_prompt(mission, review, claim, runtime)
        prompt_file = logs / f"{claim.session_id}.review.prompt.md"
        write_private(prompt_file, prompt.encode("utf-8", "surrogateescape"))
        invocation = runtime.invocation(prompt, session_uuid=new_uuid(), prompt_file=prompt_file)
    except CoordError as error:
        return Reviewed(runtime=name, verdict=None, reason=str(error))
    log_path = logs / f"{claim.session_id}.review{log_suffix(runtime.output)}"
    reader = reader_for(runtime.output)
    found: dict[str, str | None] = {}

    lines = Lines()

    def on_output(chunk: bytes) -> None:
        log.write(chunk)
        log.flush()
        for raw in lines.feed(chunk):
            on_line(raw)

    def on_line(raw: bytes) -> None:
        shown = reader.feed(raw.decode("utf-8", "replace"))
        for line in shown:
            if line.strip():
                found["last"] = line.strip()
            matched = _VERDICT.fullmatch(line)
            if matched is not None:
                found["word"], found["reasons"] = matched["word"].lower(), (matched["reasons"] or "").strip()

    read_end, write_end = os.pipe()
    try:
        with open_private(log_path) as log, listening() as signals:
            seen = len(signals.seen)  # a signal from here on counts, even one before the reviewer starts
            if signals.interrupted or (stop_requested is not None and stop_requested()):
                os.close(write_end)
                return Reviewed(runtime=name, verdict=None, reason="the review was interrupted", interrupted=True)
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
                agent.process,
                read_end,
                on_output,
                Limits(session=review.timeout),
                stop_requested,
                started=agent.go,
                since=seen,
            )
            if (last := lines.end()) is not None:
                on_line(last)
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
        return Reviewed(verdict=None, reason="the review was interrupted", interrupted=True, **result)
    if "word" in found:
        reasons = (found["reasons"] or "no reasons given")[:REASONS_LIMIT] if found["word"] == "reject" else None
        return Reviewed(verdict=found["word"], reasons=reasons, **result)
    return Reviewed(verdict=None, reason=_no_verdict(watched.exit_code, reader, found.get("last")), **result)


_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "num_turns")


def _no_verdict(exit_code: int, reader: Reader, last: str | None) -> str:
    """Why a reviewer that ended by itself gave no verdict, in its own words where it has some."""
    wall = reader.verdict(datetime.now().astimezone())
    if wall is not None:
        return f"the reviewer could not work: {wall.message}"
    said = f"; its last words: {last[:200]}" if last else ""
    if exit_code != 0:
        return f"the reviewer failed (exit {exit_code}){said}"
    return f"the reviewer gave no `VERDICT:` line{said}"


def review_claim(
    mission: Mission,
    session: Session,
    findings: Findings,
    env: Mapping[str, str],
    report: Callable[[str], None],
    *,
    stop_now: Callable[[], bool] | None = None,
) -> Findings:
    """``findings`` with the reviewer's word, once the gates have accepted the claim of
    ``session`` and mission.yaml asks for a reviewer: a reject makes the claim rejected (its
    task back to in-progress), an interrupted review leaves it unverified; no verdict leaves
    it to the gates."""
    review = mission.review
    if review is None or findings.fields.get("verdict") != "accepted" or not session.task_id:
        return findings
    if "review" in findings.fields:  # reviewed once: a lane's claim before it lands
        return findings
    tasks = load_tasks(mission.tasks_path)
    task = tasks.task(session.task_id)
    if task is None:
        return findings
    changes = findings.fields.get("git") or {}
    claim = Claim(
        session.session_id,
        session.runtime,
        task,
        criteria(tasks, task),
        changes.get("head_before"),
        changes.get("head_after"),
        int(changes.get("commits") or 0),
        bool(changes.get("dirty")),
    )
    reviewed = run_review(mission, review, claim, env, stop_requested=stop_now)
    report(reviewed.said())
    fields = {**findings.fields, "review": reviewed.to_dict()}
    if reviewed.interrupted:
        return Findings({**fields, "verdict": "none"}, reopen=True)
    if reviewed.verdict == "reject":
        return Findings(
            {**fields, "verdict": "rejected", "rejected_because": f"review: {reviewed.reasons}"}, reopen=True
        )
    return Findings(fields, reopen=findings.reopen)
