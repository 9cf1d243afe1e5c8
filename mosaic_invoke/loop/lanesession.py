"""A lane's session after its agent: its supervisor verifies the claim and lands it (SPEC 15).

A lane's supervisor is the detached session's (`session.supervisor`), with one difference:
once the agent ended, a claim read from the lane's copy of the tasks file goes through the
merge queue (`landing.land`) instead of gates in the project. The session's end is still
recorded once, by `session.record`, with what landing found.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.loop.landing import Landed, land, leave_lane
from mosaic_invoke.loop.laneclaim import LaneClaim, keep_claim
from mosaic_invoke.loop.lanes import Lane, lane_of
from mosaic_invoke.loop.remotelanding import ClaimLost, RemoteBranch
from mosaic_invoke.remote.claim import Taken
from mosaic_invoke.remote.transport import Remote
from mosaic_invoke.session.reviewer import review_claim
from mosaic_invoke.session.signals import listening
from mosaic_invoke.session.supervisor import main as supervise
from mosaic_invoke.session.verify import Findings, GateRun, Start, run_gates, verify
from mosaic_invoke.store.state import load_state

BRANCH_VARIABLE = "MOSAIC_BRANCH"
"""The mission's branch a lane lands on, in its agent's (and supervisor's) environment."""
_judged: list[tuple[Mission, Lane, str, str]] = []
"""The lane this supervisor verified: (mission, lane, mission's branch, session id)."""
_kept: list[LaneClaim] = []
"""The claim on the shared remote this lane's session works under (SPEC 16), if any."""


def main() -> int:
    # coord's signal policy from the start to the end: a SIGTERM is noted, never raised, so that
    # no landing stops halfway through a rebase and the lane is removed after the record.
    with listening():
        code = supervise(verifier=verify_and_land, keeper=_keeper)
        for held in _kept:  # the session is recorded: its claim goes
            held.release()
        for mission, lane, branch, session_id in _judged:  # the session is recorded: its lane goes
            try:
                message = f"{lane.task_id}: what session {session_id} left uncommitted"
                leave_lane(mission, lane, branch, message, _say)
            except CoordError as error:
                _say(f"warning: lane {lane.task_id} is left for the loop to remove: {error}")
    return code


def verify_and_land(
    mission: Mission,
    begun: Start,
    ended_reason: str,
    gate_log: Path,
    env: Mapping[str, str],
    report: Callable[[str], None],
    *,
    interrupted: str | None = None,
    stop_now: Callable[[], bool] | None = None,
) -> Findings:
    """`verify` without gates in the lane, then, for a claim, landing (gates on the rebased commit).

    Nothing is reopened: the tasks file on the mission's branch never said the task was at work.
    """
    main_mission = load_mission(mission.config_path)
    lane = lane_of(main_mission, begun.task_id)
    session_id = env.get("MOSAIC_SESSION_ID", "")
    _judged.append((main_mission, lane, env[BRANCH_VARIABLE], session_id))
    found = verify(replace(mission, verify=None), begun, ended_reason, gate_log, env, report)
    fields: dict[str, Any] = dict(found.fields)
    held = _kept[-1] if _kept else None
    if held is not None and (lost := held.lost):  # another host works on it now: nothing lands
        return Findings({**fields, "verdict": "none", "claim_lost": lost})
    if found.fields.get("verdict") != "accepted":
        return Findings(found.fields)
    with listening() as signals:
        stopped = interrupted or signals.interrupt() or (stop_now is not None and stop_now())
    if stopped:  # coord was asked to stop: the claim is left unverified (SPEC 12), the lane's branch kept
        return Findings({**fields, "verdict": "none", "verification": {"interrupted": True}})
    checks = mission.verify
    if checks is not None and checks.require_change and not _changed(fields.get("git")):
        return _rejected(fields, "no commit was made and nothing in the work tree changed")
    session = load_state(mission.orchestrator_path, mission.id).session(session_id)
    if mission.review is not None and session is not None:  # the reviewer has its word before the work lands
        reviewed = review_claim(mission, session, Findings(fields), env, report, stop_now=stop_now)
        if reviewed.fields.get("verdict") != "accepted":
            return Findings(reviewed.fields)  # nothing to reopen: the branch never said it was at work
        fields = dict(reviewed.fields)

    def gates(project: Path) -> GateRun | None:
        if checks is None:
            return None
        return run_gates(mission, checks.command, checks.timeout, gate_log, env, stop_now, cwd=project)

    target = None
    if main_mission.remote is not None:  # the merge queue's branch is the remote's (SPEC 16)
        remote = Remote(main_mission.root, main_mission.remote.name)
        keep = held.keep if held is not None else _kept_anyway
        target = RemoteBranch(main_mission, remote, env[BRANCH_VARIABLE], keep, begun.task_id, report)
    try:
        result = land(main_mission, lane, env[BRANCH_VARIABLE], session_id, gates, target)
    except ClaimLost as lost:
        return Findings({**fields, "verdict": "none", "claim_lost": lost.problems[0]})
    except CoordError as error:
        return _rejected(fields, f"landing failed: {error.problems[0]}")
    if result.gates is not None:
        fields["verification"] = result.gates.to_dict()
    if isinstance(result, Landed):
        fields["landed"] = {
            "branch": env[BRANCH_VARIABLE],
            "commit": result.commit,
            "previous": result.previous,
            "rebases": result.rebases,
        }
        if result.checkout:
            report(f"warning: {result.checkout}")
        return Findings({**fields, "verdict": "accepted"})
    if result.gates is not None and result.gates.stopped_by is not None:
        displaced = held.lost if held is not None else None
        if displaced:
            return Findings({**fields, "verdict": "none", "claim_lost": displaced})
        return Findings({**fields, "verdict": "none"})  # gates cut short leave the claim unverified
    return _rejected(fields, result.because)


def _keeper(mission: Mission, env: Mapping[str, str], report: Callable[[str], None]) -> Callable[[], bool] | None:
    """Keep the claim the loop handed this lane (with a shared remote): the agent is ended once
    another host took it over."""
    if mission.remote is None:
        return None
    # The claim names the main checkout, not the lane's worktree: it is renewed from there.
    held = keep_claim(load_mission(mission.config_path), env, report, _kept)
    return None if held is None else (lambda: held.lost is not None)


def _kept_anyway() -> Taken | None:
    """A lane landing through the remote without a claim of its own (none was handed): nothing to lose."""
    return None


def _rejected(fields: dict[str, Any], because: str) -> Findings:
    return Findings({**fields, "verdict": "rejected", "rejected_because": because})


def _changed(git: Mapping[str, Any] | None) -> bool:
    return git is None or bool(git.get("commits")) or bool(git.get("dirty"))


def _say(message: str) -> None:
    print(f"coord: {message}", file=sys.stderr, flush=True)
