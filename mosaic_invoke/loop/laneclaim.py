"""The claim a lane's session works under, with a shared remote (SPEC 16): the loop makes it and
hands it to the lane's supervisor, which renews it while the session runs, ends the agent once
another host took it over, renews it once more right before landing, and releases it once the
session is recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.loop.remotelanding import lost_line
from mosaic_invoke.remote.board import patience_of, space_of
from mosaic_invoke.remote.claim import Claim, Taken, claim_of
from mosaic_invoke.remote.heartbeat import Heartbeat

CLAIM_VARIABLE = "MOSAIC_CLAIM"
"""The claim a lane's session works under, as JSON, in its supervisor's (and agent's) environment."""
Report = Callable[[str], None]


def handed(held: Claim) -> str:
    """The claim as the loop hands it to a lane (`CLAIM_VARIABLE`)."""
    return json.dumps({**held.to_dict(), "commit": held.commit})


class LaneClaim:
    """The claim a lane's supervisor keeps for its session."""

    def __init__(self, mission: Mission, held: Claim, session_id: str | None, report: Report) -> None:
        self.mission = mission
        self.task_id = held.task_id
        self.report = report
        config = mission.remote
        every = config.heartbeat if config is not None else 60.0
        self.heartbeat = Heartbeat(space_of(mission), held, every, patience_of(mission), report, session_id=session_id)
        self.said = False

    @property
    def lost(self) -> str | None:
        """Who took the claim over, once it was (said in the log once)."""
        taken = self.heartbeat.lost
        if taken is None:
            return None
        line = lost_line(taken, self.task_id)
        if not self.said:
            self.said = True
            self.report(f"{line}: the session stops")
        return line

    def keep(self) -> Taken | None:
        """Renew now (before landing): how the claim was lost, if it was."""
        return self.heartbeat.beat_now()

    def release(self) -> None:
        try:
            taken = self.heartbeat.release(patience_of(self.mission))
        except CoordError as error:  # the loop releases what a lane left, at its next poll
            self.report(f"warning: claim on {self.task_id} not released: {error.problems[0]}")
            return
        if taken is not None and not self.said:
            self.report(lost_line(taken, self.task_id))


def keep_claim(mission: Mission, env: Mapping[str, str], report: Report, kept: list[LaneClaim]) -> LaneClaim | None:
    """Start renewing the claim the loop handed this lane, if any (appended to ``kept``)."""
    text = env.get(CLAIM_VARIABLE)
    if mission.remote is None or not text:
        return None
    fields: Any = json.loads(text)
    held = LaneClaim(mission, claim_of(fields), env.get("MOSAIC_SESSION_ID"), report)
    held.heartbeat.start()
    kept.append(held)
    return held
