"""`make demo`: run coord on a copy of the demo mission, with a stand-in agent.

Copies examples/demo/project to a temporary folder (the repository stays clean), then runs
the real `mosaic-coord` as a user would: status, a print-only prompt, three agent sessions
(each picks the next runnable task), and status again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COORD = str(Path(sys.executable).parent / "mosaic-coord")


def step(title: str, *args: str, cwd: Path) -> str:
    print(f"\n$ mosaic-coord {' '.join(args)}    # {title}", flush=True)
    result = subprocess.run([COORD, *args], cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(result.stdout.rstrip())
    if result.returncode != 0:
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
    for _ in range(3):
        step("one agent session on the next runnable task", "run", cwd=root)
    step("after three sessions", "status", cwd=root)
    print(f"\ndemo done; the mission folder is kept in {root}")


if __name__ == "__main__":
    main()
