"""`make demo`: run coord on a copy of the demo mission, with a stand-in agent.

Copies examples/demo/project to a temporary folder (the repository stays clean), then runs
the real `mosaic-coord` as a user would: status, the prompt the next agent gets, one
session, an unattended loop until the mission is done (each claim checked by the mission's
gates); then two more tasks are added and a loop with two lanes runs them at once, each in a
git worktree of its own, landing each on the branch once the gates pass; status again, the
report page, and the last session's log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COORD = str(Path(sys.executable).parent / "mosaic-coord")
MORE_TASKS = """\
| T-006 | not-started | M2        | A man page                  |              | docs/man     |
| T-007 | not-started | M2        | Shell completion            |              | src/complete |
"""
"""Two tasks that touch different files (the `paths` column): lanes may run them at once."""


def step(title: str, *args: str, cwd: Path, codes: tuple[int, ...] = (0,)) -> str:
    print(f"\n$ mosaic-coord {' '.join(args)}    # {title}", flush=True)
    result = subprocess.run([COORD, *args], cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(result.stdout.rstrip())
    if result.returncode not in codes:
        sys.exit(f"demo: `mosaic-coord {' '.join(args)}` exited {result.returncode}")
    return result.stdout


def git(root: Path, *args: str) -> None:
    """git as the demo's user runs it (an identity of its own where git has none)."""
    names = {"GIT_AUTHOR_NAME": "Demo", "GIT_COMMITTER_NAME": "Demo"}
    mails = {"GIT_AUTHOR_EMAIL": "demo@localhost", "GIT_COMMITTER_EMAIL": "demo@localhost"}
    subprocess.run(
        ["git", *args], cwd=root, check=True, stdout=subprocess.DEVNULL, env={**names, **mails, **os.environ}
    )


def add_tasks(root: Path) -> None:
    """What a user does next: two more tasks, in a tasks file that gains a `paths` column."""
    tasks = root / "docs" / "TASKS.md"
    lines = tasks.read_text().splitlines(keepends=True)
    lines = [
        line.rstrip("\n") + (" paths        |\n" if i == 2 else "--------------|\n" if i == 3 else "              |\n")
        if line.startswith("|")
        else line
        for i, line in enumerate(lines)
    ]
    tasks.write_text("".join(lines) + MORE_TASKS)
    print("\n$ git commit -am 'Two more tasks'    # added by hand, with the files each may touch")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Two more tasks")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mosaic-demo-")) / "project"
    shutil.copytree(HERE / "project", root)
    lanes = shutil.which("git") is not None
    if lanes:
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "The demo mission")
    print(f"demo mission copied to {root}")
    step("where the mission stands", "status", cwd=root)
    prompt = step("the prompt the next agent gets", "run", "--print-only", cwd=root)
    if "## Continuation Mission" not in prompt:
        sys.exit("demo: the print-only run showed no continuation prompt")
    step("one agent session on the next runnable task", "run", cwd=root)
    looped = step("sessions until the mission is done, each claim checked", "loop", cwd=root)
    if "stopped: mission-done" not in looped:
        sys.exit("demo: the loop did not finish the mission")
    if lanes:
        add_tasks(root)
        looped = step("two sessions at once, each in a git worktree of its own", "loop", "--lanes", "2", cwd=root)
        if "stopped: mission-done" not in looped or "started in lane 2" not in looped:
            sys.exit("demo: the loop with two lanes did not finish the mission in two lanes")
    step("after the loop", "status", cwd=root)
    step("the mission at a glance, as a web page", "report", cwd=root)
    step("what the last agent printed", "logs", cwd=root)
    print(f"\ndemo done; the mission folder is kept in {root}")


if __name__ == "__main__":
    main()
