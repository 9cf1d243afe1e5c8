"""A stand-in agent for lane tests: works on its task in its lane's worktree, as an agent would.

Launched as ``python lane_agent.py MODE [PROMPT]`` in the lane's project folder. It writes
``start <task> <lane> <time> <cwd> <worktree>`` to LANE_AGENT_LOG as it starts and ``end
<task> <lane> <time>`` as it ends (times from ``time.time()``), sleeps LANE_AGENT_SLEEP
seconds (default 0); with LANE_AGENT_WAIT_FOR, it waits until that file exists, and with
LANE_AGENT_MEET=N until the log has N ``start`` lines (agents at work at once), 60 s at most
each; then, by MODE:

- ``commit``: writes ``work/<task>.txt``, commits it, marks its task done (not committed);
- ``shared``: writes its task id into ``src/shared.py`` (every such task conflicts with the
  others), commits it, marks its task done;
- ``fail``: exits 1 touching nothing;
- ``hang``: waits until a signal ends it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

TASKS = Path("docs/TASKS.md")


def log(line: str) -> None:
    path = os.environ.get("LANE_AGENT_LOG")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())


def started() -> int:
    path = os.environ.get("LANE_AGENT_LOG")
    if not path or not Path(path).exists():
        return 0
    return sum(line.startswith("start ") for line in Path(path).read_text().splitlines())


def mark_done(task: str) -> None:
    text = TASKS.read_text()
    pattern = re.compile(rf"^(\|\s*{re.escape(task)}\s*\|\s*)[a-z-]+(\s*\|)", re.MULTILINE)
    TASKS.write_text(pattern.sub(r"\g<1>done\g<2>", text, count=1))


def commit(name: str, text: str, message: str) -> None:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    subprocess.run(["git", "add", "--", name], check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], check=True)


def main() -> int:
    mode = sys.argv[1]
    task = os.environ["MOSAIC_TASK_ID"]
    lane = os.environ.get("MOSAIC_LANE", "-")
    log(f"start {task} {lane} {time.time()} {Path.cwd()} {os.environ.get('MOSAIC_WORKTREE', '-')}")
    if mode == "hang":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        while True:
            time.sleep(0.1)
    time.sleep(float(os.environ.get("LANE_AGENT_SLEEP", "0")))
    wait_for = os.environ.get("LANE_AGENT_WAIT_FOR")
    deadline = time.monotonic() + 60
    while wait_for and not Path(wait_for).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    meet = int(os.environ.get("LANE_AGENT_MEET", "0"))
    while meet and started() < meet and time.monotonic() < deadline:
        time.sleep(0.05)
    if mode == "fail":
        log(f"end {task} {lane} {time.time()}")
        return 1
    if mode == "commit":
        commit(f"work/{task}.txt", f"{task}\n", f"{task}: work")
    elif mode == "shared":
        commit("src/shared.py", f"owner = {task!r}\n", f"{task}: shared")
    mark_done(task)
    log(f"end {task} {lane} {time.time()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
