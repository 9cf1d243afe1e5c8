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
from mosaic_invoke.loop.lanes import Lane, lane_of
from mosaic_invoke.session.reviewer import review_claim
from mosaic_invoke.session.signals import listening
from mosaic_invoke.session.supervisor import main as supervise
from mosaic_invoke.session.verify import Findings, GateRun, Start, run_gates, verify
from mosaic_invoke.store.state import load_state

BRANCH_VARIABLE = "MOSAIC_BRANCH"
"""The mission's branch a lane lands on, in its agent's (and supervisor's) environment."""
_judged: list[tuple[Mission, Lane, str, str]] = []
"""The lane this supervisor verified: (mission, lane, mission's branch, session id)."""


def main() -> int:
    # coord's signal policy from the start to the end: a SIGTERM is noted, never raised, so that
    # no landing stops halfway through a rebase and the lane is removed after the record.
    with listening():
        code = supervise(verifier=verify_and_land)
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
    if found.fields.get("verdict") != "accepted":
        return Findings(found.fields)
    fields: dict[str, Any] = dict(found.fields)
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

    try:
        result = land(main_mission, lane, env[BRANCH_VARIABLE], session_id, gates)
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
        return Findings({**fields, "verdict": "none"})  # gates cut short leave the claim unverified
    return _rejected(fields, result.because)


def _rejected(fields: dict[str, Any], because: str) -> Findings:
    return Findings({**fields, "verdict": "rejected", "rejected_because": because})


def _changed(git: Mapping[str, Any] | None) -> bool:
    return git is None or bool(git.get("commits")) or bool(git.get("dirty"))


def _say(message: str) -> None:
    print(f"coord: {message}", file=sys.stderr, flush=True)
