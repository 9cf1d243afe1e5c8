"""session/process.start_gated: the agent exists behind its gate, and runs only once told to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import BIN

from mosaic_invoke.session.process import GATE_CLOSED, start_gated
from mosaic_invoke.store.liveness import process_start_time


def test_the_agent_runs_only_after_go_as_the_same_process(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    gated = start_gated(
        [sys.executable, "-c", f"import os; open({str(marker)!r}, 'w').write(str(os.getpid()))"], tmp_path, os.environ
    )
    started_at = process_start_time(gated.pid)
    assert gated.process.poll() is None and not marker.exists()  # waiting at the gate
    gated.go()
    assert gated.process.wait(timeout=60) == 0
    assert int(marker.read_text()) == gated.pid  # exec: the pid the lock names is the agent's
    assert started_at is not None


def test_a_gate_never_opened_never_runs_the_agent(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    gated = start_gated([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], tmp_path, os.environ)
    gated.cancel()
    assert gated.process.returncode == GATE_CLOSED
    assert not marker.exists()


def test_the_gate_works_when_its_pipe_is_fd_3(tmp_path: Path) -> None:
    """In a process with only 0, 1 and 2 open, the gate's own pipe gets fd 3, where the gate reads."""
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from mosaic_invoke.session.process import start_gated\n"
        "gated = start_gated(['/bin/echo', 'agent ran'], Path('.'), os.environ)\n"
        "gated.go()\n"
        "sys.exit(gated.process.wait())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, close_fds=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "agent ran\n", "")


def test_an_agent_gets_ctrl_c_back_from_coord_run_in_a_background_job(project: Path, tmp_path: Path) -> None:
    """A shell's background job starts with SIGINT ignored; the agent must not inherit that."""
    seen = tmp_path / "sigint"
    agent = f"{sys.executable} -c \"import signal, pathlib; pathlib.Path('{seen}').write_text(str(signal.getsignal(signal.SIGINT)))\""
    result = subprocess.run(
        [str(BIN / "mosaic-coord"), "run", "--command", agent],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `coord run &` in a script
    )
    assert result.returncode == 0, result.stderr
    assert seen.read_text() == str(signal.default_int_handler)
