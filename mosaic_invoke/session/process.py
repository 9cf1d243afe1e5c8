"""Agent processes: starting them behind a gate, ending them, and whether a pid still lives."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from mosaic_invoke.errors import AgentUnusable, CoordError

# The gate: a shell that waits for "go" on its pipe (fd N) and then becomes the agent (exec
# keeps the pid and its start time). If coord dies before saying go, the read sees end of file
# and the agent never starts: no agent ever works before the session lock names it.
_GATE = 'IFS= read -r go <&{fd} && [ "$go" = go ] || exit 125; exec {fd}<&-; exec "$@"'
GATE_CLOSED = 125
"""The exit code of a gate that was never opened."""


class Gated:
    """A process started behind a gate: it exists (its pid can be recorded) but waits for `go`."""

    def __init__(self, process: subprocess.Popen[bytes], gate: int) -> None:
        self.process = process
        self._gate: int | None = gate

    @property
    def pid(self) -> int:
        return self.process.pid

    def go(self) -> None:
        """Let the agent start."""
        self._close(b"go\n")

    def cancel(self) -> None:
        """Never let it start; reap the gate."""
        self._close(b"")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _close(self, message: bytes) -> None:
        if self._gate is None:
            return
        with contextlib.suppress(OSError):
            if message:
                os.write(self._gate, message)
        os.close(self._gate)
        self._gate = None


def start_gated(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    new_session: bool = False,
) -> Gated:
    """Start ``argv`` (an argument list, never a shell of the user's) behind a gate.

    The program is looked up first, so that a missing or non-executable command is an error
    here, before any session is recorded.
    """
    program = find_program(argv[0], cwd, env)
    read_end, write_end = os.pipe()
    # The gate reads its pipe where it is when sh can name it (fds 0-9) and the agent would
    # get Ctrl-C anyway (exec resets a handled signal, never an ignored one): the child needs
    # no code of coord's before exec, so Python starts it without copying coord (some 2 ms).
    # Otherwise the pipe is moved onto fd 3 and SIGINT reset there. Python opens every other
    # file non-inheritable (PEP 446), so nothing else reaches the agent.
    direct = read_end <= 9 and signal.getsignal(signal.SIGINT) != signal.SIG_IGN
    if direct:
        os.set_inheritable(read_end, True)
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", _GATE.format(fd=read_end if direct else 3), "mosaic-gate", program, *argv[1:]],
            cwd=cwd,
            env=dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            close_fds=False,
            preexec_fn=None if direct else functools.partial(_onto_fd_3, read_end),
            start_new_session=new_session,
        )
    except OSError as exc:
        os.close(write_end)
        raise CoordError(_cannot_start(argv, exc)) from None
    finally:
        os.close(read_end)
    return Gated(process, write_end)


def _onto_fd_3(fd: int) -> None:
    """In the child, before exec: the gate's pipe as an inheritable fd 3, and Ctrl-C as a
    terminal gives it (coord run in a script's background job inherits SIGINT ignored, and its
    agent would not end by the SIGINT coord passes on)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if fd == 3:
        os.set_inheritable(3, True)  # dup2 onto itself would leave it close-on-exec
    else:
        os.dup2(fd, 3)


def find_program(name: str, cwd: Path, env: Mapping[str, str]) -> str:
    """The path of the program ``name``, as the agent's environment would find it; or AgentUnusable."""
    if os.sep in name:
        path = Path(name) if os.path.isabs(name) else cwd / name
        if not path.is_file():
            msg = (
                f"cannot start the agent: command `{name}` not found; install it, "
                "or choose another with --runtime or --command"
            )
            raise AgentUnusable(msg)
        if not os.access(path, os.X_OK):
            msg = f"cannot start the agent: `{name}` is not executable; check its permissions"
            raise AgentUnusable(msg)
        return str(path)
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        msg = (
            f"cannot start the agent: command `{name}` not found on PATH; install it, "
            "or choose another with --runtime or --command"
        )
        raise AgentUnusable(msg)
    return found


def _cannot_start(argv: Sequence[str], exc: OSError) -> str:
    if exc.errno == errno.E2BIG:
        size = sum(len(part.encode()) for part in argv) // 1024
        return (
            f"cannot start the agent: its command line ({size} KiB, the prompt included) is too long for the "
            "system; put `{prompt_file}` in the command instead of `{prompt}`, so that the agent reads the "
            "prompt from a file"
        )
    return f"cannot start the agent `{argv[0]}`: {exc.strerror}"


def leads_group(process: subprocess.Popen[bytes]) -> bool:
    """Whether the agent leads a process group of its own (started away from a terminal)."""
    try:
        return os.getpgid(process.pid) == process.pid
    except ProcessLookupError:
        return False


def signal_agent(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the agent, and to its whole process group when it leads one."""
    group = leads_group(process)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(process.pid, signum)  # the tools it started too, even once it has exited
        elif process.poll() is None:
            process.send_signal(signum)


def exit_status(returncode: int) -> int:
    """A shell's exit code: 128 + the signal number for a signal death."""
    return 128 - returncode if returncode < 0 else returncode
