"""A stand-in agent for loop tests: does one kind of work on the task coord gave it.

Launched as ``python agent.py MODE [PROMPT]``; the task is ``MOSAIC_TASK_ID``, the session
``MOSAIC_SESSION_ID``, the project root the working directory. MODE is one of:

- ``done``: marks its task done in docs/TASKS.md and exits 0;
- ``commit``: writes ``work/<task>.txt``, commits it with git, marks its task done;
- ``fail``: touches nothing and exits 1;
- ``hang``: waits until it is ended by a signal;
- ``break``: marks its task done but writes ``broken`` into ``gate.txt`` (the gate
  ``grep -qx ok gate.txt`` then fails);
- ``fix``: writes ``ok`` into ``gate.txt`` and marks its task done;
- ``idle``: exits 0 without touching anything;
- ``all-done`` / ``all-cancelled``: sets every row of the tasks file to ``done`` / ``cancelled``;
- ``done-exit1``: marks its task done, then exits 1;
- ``done-hang``: marks its task done, then waits until it is ended by a signal;
- ``term-zero``: waits until SIGTERM or SIGINT reaches it, then exits 0;
- ``work``: commits a change (as ``commit``) but leaves its task in progress: never finishes;
- ``mess``: writes ``work/<session>.txt`` (no commit), prints ``error: the build is broken``
  and exits 1: a different tree, the same error, every time.

A comma-separated MODE plays one mode per run, in order, then the last one again (runs are
counted in LOOP_AGENT_COUNT, a file). LOOP_AGENT_SLEEP: seconds to wait before working;
LOOP_AGENT_WAIT_FOR: a file to wait for first (120 s at most; ``{session}`` in it is replaced
by the session id). LOOP_AGENT_COMMITS: how many
commits ``commit`` makes (default 1).
LOOP_AGENT_LOG: a file that gets ``start <session> <task> <pid>`` when the agent starts and
``end <session> <task>`` once its work is written. LOOP_AGENT_COST: a claude-like result
line with that cost is printed (for a runtime whose output is claude-stream-json).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

TASKS = Path("docs/TASKS.md")


def mode_for_this_run(modes: str) -> str:
    chosen = [mode.strip() for mode in modes.split(",") if mode.strip()]
    counter = os.environ.get("LOOP_AGENT_COUNT")
    runs = 0
    if len(chosen) > 1 and counter:
        path = Path(counter)
        runs = int(path.read_text()) if path.exists() else 0
        path.write_text(str(runs + 1))
    return chosen[min(runs, len(chosen) - 1)]


def log(line: str) -> None:
    path = os.environ.get("LOOP_AGENT_LOG")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())


def mark_done(task: str) -> None:
    text = TASKS.read_text()
    pattern = re.compile(rf"^(\|\s*{re.escape(task)}\s*\|\s*)[a-z-]+(\s*\|)", re.MULTILINE)
    TASKS.write_text(pattern.sub(r"\1done\2", text, count=1))


def mark_every_row(status: str) -> None:
    pattern = re.compile(r"^(\|\s*T-\d+\s*\|\s*)[a-z-]+(\s*\|)", re.MULTILINE)
    TASKS.write_text(pattern.sub(rf"\1{status}\2", TASKS.read_text()))


def commit(task: str) -> None:
    Path("work").mkdir(exist_ok=True)
    for number in range(int(os.environ.get("LOOP_AGENT_COMMITS", "1"))):
        Path("work", f"{task}.txt").write_text(f"{task} part {number} by {os.environ.get('MOSAIC_SESSION_ID')}\n")
        subprocess.run(["git", "add", "work"], check=True, capture_output=True)
        subprocess.run(["git", "commit", "-q", "-m", f"work on {task}"], check=True, capture_output=True)


def main() -> int:
    mode = mode_for_this_run(sys.argv[1] if len(sys.argv) > 1 else "done")
    task = os.environ["MOSAIC_TASK_ID"]
    session = os.environ.get("MOSAIC_SESSION_ID", "?")
    log(f"start {session} {task} {os.getpid()}")
    time.sleep(float(os.environ.get("LOOP_AGENT_SLEEP", "0")))
    release = os.environ.get("LOOP_AGENT_WAIT_FOR", "").replace("{session}", session)
    deadline = time.monotonic() + 120
    while release and not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    print(f"agent {mode} on {task}", flush=True)
    if mode == "term-zero":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
        log(f"waiting {session} {task}")
        while True:
            time.sleep(3600)
    if mode == "done-hang":
        mark_done(task)
        log(f"marked {session} {task}")
    if mode in ("hang", "done-hang"):
        while True:
            time.sleep(3600)
    if mode in ("all-done", "all-cancelled"):
        mark_every_row(mode.removeprefix("all-"))
    if mode == "fail":
        log(f"end {session} {task}")
        return 1
    if mode in ("commit", "work"):
        commit(task)
    if mode == "mess":
        Path("work").mkdir(exist_ok=True)
        Path("work", f"{session}.txt").write_text("half done\n")
        print("error: the build is broken", flush=True)
        log(f"end {session} {task}")
        return 1
    if mode == "break":
        Path("gate.txt").write_text("broken\n")
    if mode == "fix":
        Path("gate.txt").write_text("ok\n")
    if mode in ("done", "commit", "break", "fix", "done-exit1"):
        mark_done(task)
    cost = os.environ.get("LOOP_AGENT_COST")
    if cost:
        result = {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 1,
            "total_cost_usd": float(cost),
        }
        print(json.dumps(result), flush=True)
    log(f"end {session} {task}")
    return 1 if mode == "done-exit1" else 0


if __name__ == "__main__":
    sys.exit(main())
