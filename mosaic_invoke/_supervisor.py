"""Detached sessions: a supervisor process starts the agent, waits for it and records its end.

``coord.run --detach`` starts the supervisor in a session of its own, isolated from the
project folder's modules (``python -I``: a project's ``json.py`` must not shadow the
standard library). The handshake, over the supervisor's stdin and stdout:

1. coord sends the launch spec (one JSON line);
2. the supervisor starts the agent behind its gate and answers with its pid;
3. coord writes the session lock naming that pid and records the session, then sends `go`;
   only then does the agent start. If coord dies before `go`, the agent never starts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, cast

from ._caps import LoopCaps
from ._exceptions import CoordError, SessionActive, command
from ._locate import project_root
from ._looprecord import LoopRecord
from ._mission import Mission, load_mission
from ._plan import Plan, RunOptions
from ._state import LOGS_DIR
from ._verify import Start

_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from mosaic_invoke._supervisor import main; sys.exit(main())"


class Supervised:
    """A supervisor that has started the agent behind its gate."""

    def __init__(self, process: subprocess.Popen[bytes], pid: int, pid_started_at: int | None) -> None:
        self.process = process
        self.pid = pid
        self.pid_started_at = pid_started_at
        self.owner = process.pid

    def go(self) -> None:
        self._close(b"go\n")

    def cancel(self) -> None:
        self._close(b"")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def _close(self, message: bytes) -> None:
        pipe = cast(IO[bytes], self.process.stdin)
        if pipe.closed:
            return
        with contextlib.suppress(BrokenPipeError):
            if message:
                pipe.write(message)
            pipe.close()


def start_supervised(
    mission: Mission, chosen: Plan, env: dict[str, str], log_path: Path, begun: Start, options: RunOptions
) -> Supervised:
    """Start a supervisor for the session ``chosen``; the agent waits behind its gate."""
    spec = {
        "mission_file": str(mission.config_path),
        "argv": chosen.argv,
        "stdin": str(chosen.prompt_file) if chosen.invocation.stdin == "prompt" else None,
        "output": chosen.runtime.output,
        "agent_session_id": chosen.invocation.agent_session_id,
        "env": env,
        "log": str(log_path),
        "session_id": chosen.session_id,
        "begun": {**asdict(begun), "done_before": sorted(begun.done_before)},
        "session_timeout": options.session_timeout,
        "idle_timeout": options.idle_timeout,
    }
    package_parent = str(Path(__file__).resolve().parent.parent)
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, package_parent],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=mission.root,
                start_new_session=True,
            )
    except OSError as exc:
        msg = f"cannot start the session supervisor: {exc.strerror}"
        raise CoordError(msg) from None
    stdin, stdout = cast(IO[bytes], process.stdin), cast(IO[bytes], process.stdout)
    try:
        stdin.write(json.dumps(spec).encode() + b"\n")
        stdin.flush()
        reply = stdout.readline()
        stdout.close()
        started = json.loads(reply)
    except (OSError, json.JSONDecodeError):
        stdin.close()
        process.wait()
        msg = f"the session supervisor failed to start the agent; see {log_path}"
        raise CoordError(msg) from None
    if "error" in started:
        stdin.close()
        process.wait()
        raise CoordError(started["error"])
    return Supervised(process, int(started["pid"]), started.get("pid_started_at"))


def start_loop(mission_file: Path, options: RunOptions, caps: LoopCaps, *, allow_failing_gates: bool) -> dict[str, Any]:
    """Start ``coord.loop`` under a supervisor of its own; returns its loop id, pid and log path
    once the gates before its first session have passed (or raises what stopped it)."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, package_parent, "loop"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=project_root(mission_file),  # as a detached session's: paths in its log read from the root
            start_new_session=True,
        )
    except OSError as exc:
        msg = f"cannot start the loop's supervisor: {exc.strerror}"
        raise CoordError(msg) from None
    spec = pickle.dumps((mission_file, options, caps, allow_failing_gates))
    stdin, stdout = cast(IO[bytes], process.stdin), cast(IO[bytes], process.stdout)
    with contextlib.suppress(BrokenPipeError):
        stdin.write(spec)
        stdin.close()
    try:
        reply = stdout.readline()  # once the gates before the first session have passed
    except KeyboardInterrupt:
        # Ctrl-C while waiting: the loop is detached already and goes on; say how to reach it.
        msg = (
            f"stopped waiting for the loop's gates; the loop goes on in the background (pid {process.pid}): "
            f"`{command('status')}` shows it, `{command('stop')}` stops it"
        )
        error = CoordError(msg)
        error.exit_code = 130
        raise error from None
    stdout.close()
    try:
        started: dict[str, Any] = json.loads(reply)
    except json.JSONDecodeError:
        errors = cast(IO[bytes], process.stderr).read().decode(errors="replace").strip()
        process.wait()
        msg = f"the loop's supervisor failed to start: {errors.splitlines()[-1] if errors else 'no reason given'}"
        raise CoordError(msg) from None
    cast(IO[bytes], process.stderr).close()
    if "error" in started:
        process.wait()
        error = SessionActive(started["error"]) if started.get("code") == 3 else CoordError(started["error"])
        error.exit_code = int(started.get("code") or 1)
        raise error
    return started


def main_loop() -> int:
    """The supervisor of a detached loop: the loop runs here, its output in logs/loop-<id>.log."""
    from ._console import tolerant_stdout
    from ._loop import exit_code, run_loop
    from ._loopview import summary_lines

    mission_file, options, caps, allow = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - coord's own pipe
    tolerant_stdout()
    reply: int | None = os.dup(sys.stdout.fileno())
    log: Path | None = None

    def answer(message: dict[str, Any]) -> None:
        # Once only; the caller may be gone (Ctrl-C while the gates ran): the loop goes on.
        nonlocal reply
        if reply is not None:
            with contextlib.suppress(OSError):
                os.write(reply, json.dumps(message).encode() + b"\n")
            os.close(reply)
            reply = None

    def started(record: LoopRecord) -> None:
        nonlocal log
        log = Path(load_mission(mission_file).orchestrator_path) / LOGS_DIR / f"{record.loop_id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:  # from now on the log hears of everything, errors included
            os.dup2(out.fileno(), sys.stdout.fileno())
            os.dup2(out.fileno(), sys.stderr.fileno())

    def ready(record: LoopRecord) -> None:
        answer({"loop_id": record.loop_id, "pid": os.getpid(), "log_path": str(log)})

    def report(message: str) -> None:
        print(f"coord: {message}", file=sys.stderr, flush=True)

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
        answer({"error": str(error), "code": error.exit_code})
        return error.exit_code
    for line in summary_lines(record):
        report(line)
    code = exit_code(record.stop_reason)
    # Stopped before its first session (the gates fail, a signal while they ran): the caller says why.
    why = f"the loop stopped before its first session: {record.stop_detail}; its log: {log}"
    answer({"error": why, "code": code or 1})
    return code


def main() -> int:
    if sys.argv[2:] == ["loop"]:
        return main_loop()
    from ._ending import abandoning, finish, note_agent_session
    from ._mission import load_mission
    from ._output import Output
    from ._process import process_start_time, start_gated
    from ._watch import Limits, watch

    spec: dict[str, Any] = json.loads(sys.stdin.readline())
    try:
        mission = load_mission(Path(spec["mission_file"]))
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
    print(json.dumps({"pid": agent.pid, "pid_started_at": process_start_time(agent.pid)}), flush=True)
    if sys.stdin.readline().strip() != "go":
        agent.cancel()  # coord died, or failed, before it recorded the session: no agent may run untracked
        return 1
    # coord has its answer and returns; from now on only the log hears from us.
    with open(spec["log"], "ab") as log:
        os.dup2(log.fileno(), sys.stdout.fileno())
    session_id = spec["session_id"]
    begun = Start(**{**spec["begun"], "done_before": frozenset(spec["begun"]["done_before"])})
    limits = Limits(session=spec["session_timeout"], idle=spec["idle_timeout"])

    def report(message: str) -> None:
        print(f"coord: {message}", file=sys.stderr, flush=True)

    output = Output(
        Path(spec["log"]),
        spec["output"],
        None,
        known_session_id=spec["agent_session_id"],
        on_session_id=functools.partial(note_agent_session, mission, session_id, report),
    )
    with output, abandoning(mission, session_id, agent.process, limits):
        watched = watch(agent.process, read_end, output.line, limits, started=agent.go)
    try:
        finish(mission, session_id, begun, watched, output.reader, spec["env"], report)
    except CoordError as error:
        report(f"error: {error}")
        return 1
    return 0
