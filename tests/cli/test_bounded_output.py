"""Bounded by size, not by lines: an agent or gate printing tens of MB without a newline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import BIN, ORCH, coord, sessions
from loopkit import agent, make_project

MB = 1 << 20


def printer(folder: Path, megabytes: int, *, then: str = "") -> str:
    """A command printing ``megabytes`` MiB of `x` without a newline, 64 KiB at a time (its own
    memory stays small), then running ``then``."""
    script = folder / f"print_{megabytes}_mb.py"
    script.write_text(
        f"import sys\no = sys.stdout.buffer\nc = b'x' * 65536\nfor _ in range({megabytes * 16}):\n    o.write(c)\n{then}\n"
    )
    return f"{sys.executable} {script}"


# The peak is read by a small launcher, never by the test process itself: a child started by
# vfork (as subprocess does) inherits its parent's peak resident memory when it execs, so a
# pytest worker grown by earlier tests would be measured instead of coord.
_LAUNCHER = """\
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
open(sys.argv[1], "w").write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def peak_rss(args: list[str], cwd: Path, tmp_path: Path) -> tuple[int, int, str]:
    """Run mosaic-coord: its exit code, the peak resident memory (bytes) of it and of the
    processes it waited for (the largest one), and its standard error."""
    measured = tmp_path / "peak"
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        launcher = [sys.executable, "-c", _LAUNCHER, str(measured), str(BIN / "mosaic-coord"), *args]
        subprocess.run(launcher, cwd=cwd, stdout=out, stderr=err, check=True)
    code, peak_kib = map(int, measured.read_text().split())
    return code, peak_kib * 1024, (tmp_path / "err").read_text()


def test_an_agent_printing_40_mb_without_a_newline_costs_coord_a_few_mb(project: Path, tmp_path: Path) -> None:
    """The log gets every byte; coord's memory does not grow with the line (it did, several
    times over: the watcher joined the unfinished line again on every read)."""
    code, baseline, _ = peak_rss(["run", "--command", printer(tmp_path, 0, then="print('short')")], project, tmp_path)
    assert code == 0
    (project / ORCH / "session.lock").unlink(missing_ok=True)
    code, peak, stderr = peak_rss(["run", "--command", printer(tmp_path, 40)], project, tmp_path)
    assert code == 0, stderr
    assert peak - baseline < 16 * MB, (peak // MB, baseline // MB)
    log = Path(sessions(project)[-1]["log_path"])
    assert log.stat().st_size == 40 * MB  # every byte, as printed
    assert len((project / ORCH / "state.json").read_bytes()) < 10_000


def test_logs_of_a_40_mb_line_show_its_start_and_what_was_cut(project: Path, tmp_path: Path) -> None:
    assert coord("run", "--command", printer(tmp_path, 40), cwd=project, timeout=120).returncode == 0
    code, peak, stderr = peak_rss(["logs"], project, tmp_path)
    assert code == 0, stderr
    shown = (tmp_path / "out").read_bytes()
    assert shown.endswith(f" … [{40 * MB - MB:,} bytes more]\n".encode())
    assert len(shown) < 2 * MB
    code, raw_peak, _ = peak_rss(["logs", "--raw"], project, tmp_path)
    assert code == 0
    assert max(peak, raw_peak) < 100 * MB, (peak // MB, raw_peak // MB)


def test_a_failing_gate_printing_30_mb_without_a_newline_leaves_a_tail_of_a_few_kb(tmp_path: Path) -> None:
    gate = printer(tmp_path, 30, then="o.write(b'the end of it')\nsys.exit(1)")
    root = make_project(tmp_path / "project", extra=f"verify: {{command: {json.dumps(gate)}}}\n")
    result = coord("loop", "--command", agent("done"), cwd=root, timeout=120)
    assert result.returncode == 1
    shown = [line for line in result.stderr.splitlines() if line.startswith("  | ")]
    assert len(shown) == 1 and shown[0].startswith("  | …") and shown[0].endswith("the end of it"), shown
    assert len(result.stderr) < 20_000
    loop = (root / ORCH / "loop.json").read_text()
    assert json.loads(loop)["stop_reason"] == "gates-failing"
    assert len(loop) < 10_000
    assert len((root / ORCH / "state.json").read_bytes()) < 10_000
    assert (root / ORCH / "logs" / "loop-gates.verify.log").stat().st_size > 30 * MB  # the log keeps it all
