"""A stand-in agent that replays an event stream, as claude or codex would print it.

Launched by coord as a runtime's command, it prints the lines of a stream file on stdout,
one at a time and flushed, then exits. Driven by environment variables (or the same names
as ``--stream FILE`` etc. before any other argument):

- FAKE_AGENT_STREAM: the stream file (a name in this folder, or a path); a comma-separated
  list plays one file per run, in order, then the last one again (runs are counted in the
  file FAKE_AGENT_STATE, required with a list).
- FAKE_AGENT_DELAY: seconds to wait before each line.
- FAKE_AGENT_EXIT: the exit code at the end (default 0).
- FAKE_AGENT_HANG: when 1, never exit after the last line (as an offline codex does).
- FAKE_AGENT_WAIT_FOR: a file to wait for after the last line (120 s at most), then go on:
  an agent that is still at work until the test lets it end, whatever the machine's speed.
- FAKE_AGENT_STDERR: a line to write on stderr first.
- FAKE_AGENT_RESETS_IN: seconds from now for every ``"resetsAt"`` in the stream.
- FAKE_AGENT_RECORD: a JSON file to write argv, cwd, env and stdin to (stdin is read only
  when FAKE_AGENT_READ_STDIN is set; else whether it is /dev/null is recorded).

Like the real agents, it takes the session id from its arguments: ``--session-id ID``
(claude) replaces every ``"session_id"`` in the stream, and ``resume ID`` (codex) every
``"thread_id"``. A claude ``--resume ID`` keeps the stream's own ids: a resumed claude names a
new session.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ("stream", "delay", "exit", "hang", "wait-for", "stderr", "resets-in", "record", "read-stdin", "state")


def settings(argv: list[str]) -> dict[str, str]:
    """FAKE_AGENT_* variables, overridden by leading ``--name value`` arguments."""
    found = {name: os.environ[f"FAKE_AGENT_{name.upper().replace('-', '_')}"] for name in SETTINGS if _has(name)}
    while len(argv) >= 2 and argv[0].startswith("--") and argv[0][2:] in SETTINGS:
        found[argv[0][2:]] = argv[1]
        del argv[:2]
    return found


def _has(name: str) -> bool:
    return f"FAKE_AGENT_{name.upper().replace('-', '_')}" in os.environ


def stream_for_this_run(names: str, state: str | None) -> Path:
    streams = [name.strip() for name in names.split(",") if name.strip()]
    runs = 0
    if len(streams) > 1:
        if not state:
            sys.exit("replay_agent: FAKE_AGENT_STATE (a file to count runs in) is required with several streams")
        counter = Path(state)
        runs = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(runs + 1))
    return _path(streams[min(runs, len(streams) - 1)])


def _path(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() or path.exists() else HERE / name


def value_after(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def record(path: str, argv: list[str], read_stdin: bool) -> None:
    stdin: str | None = None
    if read_stdin:
        stdin = sys.stdin.read()
    try:
        devnull = os.path.samefile("/proc/self/fd/0", os.devnull)
    except OSError:
        devnull = False
    facts = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "stdin": stdin, "stdin_devnull": devnull}
    Path(path).write_text(json.dumps(facts))


def main() -> int:
    argv = sys.argv[1:]
    chosen = settings(argv)
    if "record" in chosen:
        record(chosen["record"], argv, "read-stdin" in chosen)
    if "stderr" in chosen:
        print(chosen["stderr"], file=sys.stderr, flush=True)
    session = value_after(argv, "--session-id")
    thread = value_after(argv, "resume")
    resets_in = chosen.get("resets-in")
    delay = float(chosen.get("delay", "0"))
    lines = (
        stream_for_this_run(chosen["stream"], chosen.get("state")).read_text().splitlines()
        if "stream" in chosen
        else []
    )
    for line in lines:
        if session:
            line = re.sub(r'"session_id":\s*"[^"]*"', f'"session_id":"{session}"', line)
        if thread:
            line = re.sub(r'"thread_id":\s*"[^"]*"', f'"thread_id":"{thread}"', line)
        if resets_in is not None:
            line = re.sub(r'"resetsAt":\s*\d+', f'"resetsAt":{int(time.time() + float(resets_in))}', line)
        time.sleep(delay)
        print(line, flush=True)
    if "wait-for" in chosen:
        release, deadline = Path(chosen["wait-for"]), time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    while chosen.get("hang") == "1":
        time.sleep(3600)
    return int(chosen.get("exit", "0"))


if __name__ == "__main__":
    sys.exit(main())
