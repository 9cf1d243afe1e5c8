"""Detached sessions, from coord's side: start a supervisor that starts the agent behind its
gate, and say `go` once the session is recorded.

``coord.run --detach`` starts the supervisor (`session/supervisor.py`) in a session of its
own, isolated from the project folder's modules (``python -I``: a project's ``json.py`` must
not shadow the standard library). The handshake, over the supervisor's stdin and stdout:

1. coord sends the launch spec (one JSON line);
2. the supervisor starts the agent behind its gate and answers with its pid;
3. coord writes the session lock naming that pid and records the session, then sends `go`;
   only then does the agent start. If coord dies before `go`, the agent never starts.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, cast

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.plan import Plan
from mosaic_invoke.session.verify import Start
from mosaic_invoke.store.files import open_private

_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from {module} import main; sys.exit(main())"


def boot_argv(module: str = "mosaic_invoke.session.supervisor") -> list[str]:
    """A supervisor's command line: this interpreter, isolated, running ``module``'s ``main``."""
    return [sys.executable, "-I", "-c", _BOOT.format(module=module), str(Path(__file__).resolve().parents[2])]


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
    mission: Mission,
    chosen: Plan,
    env: dict[str, str],
    log_path: Path,
    begun: Start,
    options: RunOptions,
    *,
    module: str | None = None,
    spare: subprocess.Popen[bytes] | None = None,
) -> Supervised:
    """Start a supervisor for the session ``chosen`` (``module``'s ``main``: the detached
    session's unless named), or hand the session to ``spare``, one started beforehand
    (`prestart`); the agent waits behind its gate."""
    spec: dict[str, Any] = {
        "mission_file": str(mission.config_path),
        "root": str(mission.root),
        "argv": chosen.argv,
        "stdin": str(chosen.prompt_file) if chosen.invocation.stdin == "prompt" else None,
        "output": chosen.runtime.output,
        "agent_session_id": chosen.invocation.agent_session_id,
        "env": env,
        "log": str(log_path),
        "session_id": chosen.session_id,
        "begun": asdict(begun),
        "session_timeout": options.session_timeout,
        "idle_timeout": options.idle_timeout,
        # The config's runtimes (the reviewer's may be one): mission.yaml alone lacks them.
        "runtimes": {name: asdict(runtime) for name, runtime in mission.runtimes.items()},
    }
    if spare is not None and spare.poll() is None:
        process = spare
        spec["stderr_to_log"] = True
    else:
        try:
            with open_private(log_path) as log:
                process = subprocess.Popen(
                    boot_argv(*(module,) if module else ()),
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


def prestart(module: str, cwd: Path) -> subprocess.Popen[bytes]:
    """A supervisor started ahead of its session: it loads its modules meanwhile, then waits for
    its launch spec (`start_supervised` with ``spare``); closing its stdin ends it."""
    try:
        return subprocess.Popen(
            boot_argv(module),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        msg = f"cannot start a session supervisor: {exc.strerror}"
        raise CoordError(msg) from None
