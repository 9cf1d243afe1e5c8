"""Detached loops: ``coord.loop --detach`` runs the whole loop in a supervisor of its own.

The supervisor (``python -I``, in a session of its own) reads the loop's spec on stdin and
answers on stdout, one JSON line each: ``{"gates": ...}`` once the loop has started and its
gates run (the caller says it waits), then the loop's id, pid and log once they have passed,
or ``{"error": ...}`` if the loop stopped before its first session. From its start the loop's
output goes to ``logs/<loop id>.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.locate import project_root
from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError, SessionActive, command, commands_as
from mosaic_invoke.session.supervised import boot_argv
from mosaic_invoke.store.files import open_private
from mosaic_invoke.store.loopfile import LoopRecord
from mosaic_invoke.store.state import LOGS_DIR
from mosaic_invoke.terminal import printable, tolerant_stdout


def start_loop(
    mission_file: Path, options: RunOptions, caps: LoopCaps, *, allow_failing_gates: bool, report: Callable[[str], None]
) -> dict[str, Any]:
    """Start ``coord.loop`` under a supervisor of its own; returns its loop id, pid and log path
    once the gates before its first session have passed (or raises what stopped it)."""
    try:
        process = subprocess.Popen(
            boot_argv(__name__),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=project_root(mission_file),  # as a detached session's: paths in its log read from the root
            start_new_session=True,
        )
    except OSError as exc:
        msg = f"cannot start the loop's supervisor: {exc.strerror}"
        raise CoordError(msg) from None
    spec = pickle.dumps((mission_file, options, caps, allow_failing_gates, command("")))
    stdin, stdout = cast(IO[bytes], process.stdin), cast(IO[bytes], process.stdout)
    with contextlib.suppress(BrokenPipeError):
        stdin.write(spec)
        stdin.close()
    waiting: dict[str, Any] | None = None
    try:
        reply = stdout.readline()
        while reply.startswith(b'{"gates"'):
            waiting = json.loads(reply)
            report(f"loop {waiting['loop_id']} started; its gates run first (`{waiting['gates']}`): waiting for them")
            reply = stdout.readline()
    except KeyboardInterrupt:
        where = f"the loop goes on in the background (pid {process.pid})" if waiting else "the loop may have started"
        error = CoordError(f"stopped waiting; {where}: `{command('status')}` shows it, `{command('stop')}` stops it")
        error.exit_code = 130
        raise error from None
    stdout.close()
    try:
        started: dict[str, Any] = json.loads(reply)
    except json.JSONDecodeError:
        errors = cast(IO[bytes], process.stderr).read().decode(errors="replace").strip()
        process.wait()
        if waiting is not None:  # its errors went to its log
            msg = f"the loop's supervisor ended before the loop's first session; see {waiting['log_path']}"
        else:
            msg = f"the loop's supervisor failed to start: {errors.splitlines()[-1] if errors else 'no reason given'}"
        raise CoordError(msg) from None
    cast(IO[bytes], process.stderr).close()
    if "error" in started:
        process.wait()
        error = SessionActive(started["error"]) if started.get("code") == 3 else CoordError(started["error"])
        error.exit_code = int(started.get("code") or 1)
        raise error
    return started


def main() -> int:
    """The supervisor of a detached loop: the loop runs here, its output in logs/<loop id>.log."""
    # Here, in the supervisor: `loop --detach` itself only starts this process (the loop's
    # modules cost it some 30 ms it does not need).
    from mosaic_invoke.loop.loop import exit_code, run_loop
    from mosaic_invoke.loop.view import split_detail, summary_lines

    mission_file, options, caps, allow, prefix = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - coord's own pipe
    tolerant_stdout()
    reply: int | None = os.dup(sys.stdout.fileno())
    log: Path | None = None

    def tell(message: dict[str, Any], *, last: bool = True) -> None:
        # The caller may be gone (Ctrl-C while the gates ran): the loop goes on.
        nonlocal reply
        if reply is not None:
            with contextlib.suppress(OSError):
                os.write(reply, json.dumps(message).encode() + b"\n")
            if last:
                os.close(reply)
                reply = None

    def started(record: LoopRecord) -> None:
        nonlocal log
        mission = load_mission(mission_file)
        log = mission.orchestrator_path / LOGS_DIR / f"{record.loop_id}.log"
        with open_private(log) as out:  # from now on the log hears of everything, errors included
            os.dup2(out.fileno(), sys.stdout.fileno())
            os.dup2(out.fileno(), sys.stderr.fileno())
        if mission.verify is not None and not allow:
            tell({"gates": mission.verify.command, "loop_id": record.loop_id, "log_path": str(log)}, last=False)

    def ready(record: LoopRecord, **stopped: str | None) -> None:
        tell({"loop_id": record.loop_id, "pid": os.getpid(), "log_path": str(log), **stopped})

    def report(message: str) -> None:
        print(f"coord: {printable(message)}", file=sys.stderr, flush=True)

    with commands_as(prefix):  # its messages name the commands as the user typed them
        try:
            record = run_loop(
                mission_file,
                options,
                caps,
                allow_failing_gates=allow,
                report=report,
                display=sys.stdout,
                on_start=started,
                on_ready=ready,
            )
        except CoordError as error:
            if log is not None:
                report(f"error: {error}")
            tell({"error": str(error), "code": error.exit_code})
            return error.exit_code
        for line in summary_lines(record):
            report(line)
    # Stopped before its first session (the gates fail, a stop or a signal while they ran, the
    # mission done): an error the caller reports, or with exit 0 what stopped it.
    code = exit_code(record.stop_reason)
    if code:
        said = "; ".join(split_detail(record.stop_detail)[0])  # what the gates printed is in the log
        why = f"the loop stopped before its first session: {said}; its log: {log}"
        tell({"error": why, "code": code})
    else:
        ready(record, stop_reason=record.stop_reason, stop_detail=record.stop_detail)
    return code
