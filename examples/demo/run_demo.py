"""`make demo`: run coord on a copy of the demo mission, with a stand-in agent.

Copies examples/demo/project to a temporary folder (the repository stays clean), then runs
the real `mosaic-coord` as a user would: status, the prompt the next agent gets, one
session, an unattended loop until the mission is done (each claim checked by the mission's
gates), status again, the report page, and the last session's log.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COORD = str(Path(sys.executable).parent / "mosaic-coord")


def step(title: str, *args: str, cwd: Path, codes: tuple[int, ...] = (0,)) -> str:
    print(f"\n$ mosaic-coord {' '.join(args)}    # {title}", flush=True)
    result = subprocess.run([COORD, *args], cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(result.stdout.rstrip())
    if result.returncode not in codes:
        sys.exit(f"demo: `mosaic-coord {' '.join(args)}` exited {result.returncode}")
    return result.stdout


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mosaic-demo-")) / "project"
    shutil.copytree(HERE / "project", root)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    print(f"demo mission copied to {root}")
    step("where the mission stands", "status", cwd=root)
    prompt = step("the prompt the next agent gets", "run", "--print-only", cwd=root)
    if "## Continuation Mission" not in prompt:
        sys.exit("demo: the print-only run showed no continuation prompt")
    step("one agent session on the next runnable task", "run", cwd=root)
    looped = step("sessions until the mission is done, each claim checked", "loop", cwd=root)
    if "stopped: mission-done" not in looped:
        sys.exit("demo: the loop did not finish the mission")
    step("after the loop", "status", cwd=root)
    step("the mission at a glance, as a web page", "report", cwd=root)
    step("what the last agent printed", "logs", cwd=root)
    print(f"\ndemo done; the mission folder is kept in {root}")


if __name__ == "__main__":
    main()
