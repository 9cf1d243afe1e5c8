"""The supervisor of a detached session: it starts the agent behind its gate, waits for `go`,
follows the agent to its end and records the session, as coord would in the foreground (the
handshake is in `session/supervised.py`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mosaic_invoke.agents.runtimes import spec_of
from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.follow import follow
from mosaic_invoke.session.process import start_gated
from mosaic_invoke.session.signals import listening
from mosaic_invoke.session.verify import Start, Verifier, verify
from mosaic_invoke.session.watch import Limits
from mosaic_invoke.store.files import open_private
from mosaic_invoke.store.liveness import process_start_time
from mosaic_invoke.terminal import printable

Keeper = Callable[[Mission, Mapping[str, str], Callable[[str], None]], Callable[[], bool] | None]
"""Given the session's mission and environment, what tells the supervisor to end the agent early (a lane's
claim lost to another host), if anything."""


def main(verifier: Verifier = verify, keeper: Keeper | None = None) -> int:
    """Start the agent, follow it, record the session; ``verifier`` judges what it did (`verify`
    unless another supervisor, a lane's, passes its own); ``keeper``, when given, may end it."""
    line = sys.stdin.readline()
    if not line:  # a spare that no session needed (`supervised.prestart`)
        return 0
    spec: dict[str, Any] = json.loads(line)
    if spec.get("stderr_to_log"):  # a spare's standard error went nowhere until it knew its log
        with open_private(Path(spec["log"])) as errors:
            os.dup2(errors.fileno(), sys.stderr.fileno())
    try:
        runtimes = {name: spec_of(fields) for name, fields in spec.get("runtimes", {}).items()}
        mission = load_mission(Path(spec["mission_file"])).moved_to(Path(spec["root"])).with_runtimes(runtimes)
        read_end, write_end = os.pipe()
        with open(spec["stdin"] or os.devnull, "rb") as stdin:
            agent = start_gated(
                spec["argv"],
                mission.root,
                spec["env"],
                stdin=stdin.fileno(),
                stdout=write_end,
                stderr=write_end,
                new_session=True,
            )
        os.close(write_end)
    except CoordError as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 1
    # From the moment coord knows our pid, a signal is noted (SIGTERM would otherwise end us
    # and leave the session unrecorded): the watch acts on one that came before it began.
    with listening():
        print(json.dumps({"pid": agent.pid, "pid_started_at": process_start_time(agent.pid)}), flush=True)
        if sys.stdin.readline().strip() != "go":
            agent.cancel()  # coord died, or failed, before it recorded the session: no agent may run untracked
            return 1
        # coord has its answer and returns; from now on only the log hears from us.
        with open_private(Path(spec["log"])) as log:
            os.dup2(log.fileno(), sys.stdout.fileno())

        def report(message: str) -> None:
            print(f"coord: {printable(message)}", file=sys.stderr, flush=True)

        try:
            stop_requested = keeper(mission, spec["env"], report) if keeper is not None else None
            follow(
                mission,
                spec["session_id"],
                agent.process,
                read_end,
                begun=Start(**spec["begun"]),
                env=spec["env"],
                log_path=Path(spec["log"]),
                output_format=spec["output"],
                known_session_id=spec["agent_session_id"],
                limits=Limits(session=spec["session_timeout"], idle=spec["idle_timeout"]),
                report=report,
                display=None,
                started=agent.go,
                stop_requested=stop_requested,
                verifier=verifier,
            )
        except CoordError as error:
            report(f"error: {error}")
            return 1
    return 0
