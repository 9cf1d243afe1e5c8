"""Following a launched session's agent, in the foreground or in its supervisor, to its end."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.launch import Launched
from mosaic_invoke.session.output import Output
from mosaic_invoke.session.process import exit_status, signal_agent
from mosaic_invoke.session.record import End, Report, abandon, end_of, finish, note_agent_session
from mosaic_invoke.session.verify import Start, Verifier, verify
from mosaic_invoke.session.watch import Limits, watch
from mosaic_invoke.store.session import Session


def follow_launched(
    launched: Launched,
    options: RunOptions,
    report: Report,
    display: IO[str] | None,
    stop_requested: Callable[[], bool] | None = None,
) -> Session:
    """Open the gate of a session launched in the foreground, follow its agent, record its end."""
    agent, pipe = launched.agent, launched.output
    if agent is None or pipe is None:
        msg = f"session {launched.session.session_id} is followed by its supervisor, not here"
        raise CoordError(msg)
    try:
        return follow(
            launched.mission,
            launched.session.session_id,
            agent.process,
            pipe,
            begun=launched.begun,
            env=launched.env,
            log_path=launched.log_path,
            output_format=launched.plan.runtime.output,
            known_session_id=launched.session.agent_session_id,
            limits=Limits(session=options.session_timeout, idle=options.idle_timeout),
            report=report,
            display=display,
            started=launched.release,
            stop_requested=stop_requested,
        )
    finally:
        os.close(pipe)


def follow(
    mission: Mission,
    session_id: str,
    process: subprocess.Popen[bytes],
    pipe: int,
    *,
    begun: Start,
    env: Mapping[str, str],
    log_path: Path,
    output_format: str,
    known_session_id: str | None,
    limits: Limits,
    report: Report,
    display: IO[str] | None,
    started: Callable[[], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
    verifier: Verifier = verify,
) -> Session:
    """Follow the agent to its end (``started`` opens its gate), then record the session: its
    end, its claim and its verdict (`record.finish`, with ``verifier``)."""
    output = Output(
        log_path,
        output_format,
        display,
        known_session_id=known_session_id,
        on_session_id=functools.partial(note_agent_session, mission, session_id, report),
    )
    with output, abandoning(mission, session_id, process, limits):
        watched = watch(process, pipe, output.feed, limits, stop_requested=stop_requested, started=started)
    if output.log_error is not None:
        report(f"warning: {output.log_error}")
    end: End = end_of(session_id, watched, output.reader, report)
    return finish(mission, session_id, begun, end, env, report, stop_now=stop_requested, verifier=verifier)


@contextlib.contextmanager
def abandoning(mission: Mission, session_id: str, process: subprocess.Popen[bytes], limits: Limits) -> Iterator[None]:
    """Should coord itself fail while it follows the agent, it ends the agent and records the
    session as crashed: no agent is left running unrecorded."""
    try:
        yield
    except BaseException:
        signal_agent(process, signal.SIGTERM)
        try:
            process.wait(timeout=limits.kill_grace)
        except subprocess.TimeoutExpired:
            signal_agent(process, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(Exception):
            abandon(mission, session_id, exit_status(process.returncode))
        raise
