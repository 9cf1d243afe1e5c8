"""Saved session logs shown (compact or raw, followed while they grow), and the stand-in agent that writes them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import wait_for

from mosaic_invoke.agents import log_suffix, read_log, reader_for, show_log
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.output import Output

STREAMS = Path(__file__).parent.parent / "streams"
REPLAY = STREAMS / "replay_agent.py"


def compact(name: str, output: str) -> list[str]:
    reader = reader_for(output)
    return [view for line in (STREAMS / name).read_text().splitlines() for view in reader.feed(line)]


def replay_agent(*args: str, env: dict[str, str] | None = None, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, str(REPLAY), *args], env={**os.environ, **(env or {})}, text=True, **popen
    )


def test_a_log_shows_as_the_live_view_did(tmp_path: Path) -> None:
    shown: list[str] = []
    reader = show_log(STREAMS / "claude-success.jsonl", "claude-stream-json", write=shown.append)
    assert shown == compact("claude-success.jsonl", "claude-stream-json")
    assert reader.telemetry()["cost_usd"] == 0.4213


def test_raw_shows_the_lines_as_written_and_still_reads_them() -> None:
    shown: list[str] = []
    reader = show_log(STREAMS / "codex-success.jsonl", "codex-json", raw=True, write=shown.append)
    assert shown == (STREAMS / "codex-success.jsonl").read_text().splitlines()
    assert reader.agent_session_id == "0199a213-81c0-7800-8aa1-bbab2a035a53"


def test_a_last_line_without_its_end_and_bad_bytes_are_shown(tmp_path: Path) -> None:
    log = tmp_path / "sess-001.log"
    log.write_bytes(b"first\r\nbad \xff byte\nno newline at the end")
    shown: list[str] = []
    show_log(log, "text", write=shown.append)
    assert shown == ["first", "bad \ufffd byte", "no newline at the end"]


def test_read_log_recovers_what_the_agent_reported() -> None:
    reader = read_log(STREAMS / "codex-0.171.0-offline-hangs.jsonl", "codex-json")
    assert reader.telemetry() == {"agent_session_id": "01a21af3-d3b0-7880-a5f5-fb33c7be8ba8"}


def test_a_missing_log_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CoordError, match=r"sess-009\.jsonl: cannot read the session's log: No such file or directory$"):
        show_log(tmp_path / "sess-009.jsonl", "claude-stream-json", write=print)


def test_following_a_growing_log_until_the_agent_ends(tmp_path: Path) -> None:
    log = tmp_path / "sess-001.jsonl"
    with log.open("w") as out:
        agent = replay_agent(env={"FAKE_AGENT_STREAM": "claude-success.jsonl", "FAKE_AGENT_DELAY": "0.02"}, stdout=out)
    shown: list[str] = []
    try:
        show_log(
            log,
            "claude-stream-json",
            follow=True,
            still_running=lambda: agent.poll() is None,
            write=shown.append,
            poll=0.01,
        )
    finally:
        agent.wait(timeout=60)
    assert agent.returncode == 0
    assert shown == compact("claude-success.jsonl", "claude-stream-json")


def test_following_waits_for_the_end_of_a_line_being_written(tmp_path: Path) -> None:
    log = tmp_path / "sess-001.jsonl"
    log.write_text('{"type":"thread.started",')
    done = threading.Event()
    polls: list[float] = []

    def still_running() -> bool:
        polls.append(time.monotonic())
        return not done.is_set()

    def finish_the_line() -> None:
        wait_for(lambda: len(polls) >= 2)  # the follower has read the half line, and waits on
        with log.open("a") as out:
            out.write('"thread_id":"t-1"}\n')
        done.set()

    writer = threading.Thread(target=finish_the_line)
    writer.start()
    shown: list[str] = []
    show_log(log, "codex-json", follow=True, still_running=still_running, write=shown.append, poll=0.01)
    writer.join()
    assert shown == ["· session t-1"]


def test_log_suffixes() -> None:
    assert [log_suffix(o) for o in ("text", "claude-stream-json", "codex-json")] == [".log", ".jsonl", ".jsonl"]


def test_the_stand_in_takes_the_session_id_from_its_arguments_like_the_agents(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    env = {"FAKE_AGENT_STREAM": "claude-usage-limit.jsonl", "FAKE_AGENT_RECORD": str(record), "FAKE_AGENT_EXIT": "1"}
    env["FAKE_AGENT_RESETS_IN"] = "120"
    before = time.time()
    agent = replay_agent(
        "-p", "hi", "--session-id", "chosen-uuid", env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    out, _ = agent.communicate(timeout=60)
    after = time.time()
    assert agent.returncode == 1
    reader = reader_for("claude-stream-json")
    for line in out.splitlines():
        reader.feed(line)
    assert reader.agent_session_id == "chosen-uuid"
    limit = next(json.loads(line) for line in out.splitlines() if '"rate_limit_event"' in line)
    assert before + 120 - 1 <= limit["rate_limit_info"]["resetsAt"] <= after + 120
    facts = json.loads(record.read_text())
    assert facts["argv"] == ["-p", "hi", "--session-id", "chosen-uuid"] and facts["stdin_devnull"] is True

    agent = replay_agent(
        "--stream", "codex-success.jsonl", "exec", "--json", "resume", "th-9", "go", stdout=subprocess.PIPE
    )
    out, _ = agent.communicate(timeout=60)
    assert json.loads(out.splitlines()[0]) == {"type": "thread.started", "thread_id": "th-9"}


def test_the_stand_in_plays_one_stream_per_run_and_can_hang(tmp_path: Path) -> None:
    env = {"FAKE_AGENT_STREAM": "codex-usage-limit-in-duration.jsonl,codex-success.jsonl"}
    env["FAKE_AGENT_STATE"] = str(tmp_path / "runs")
    firsts = []
    for _ in range(3):
        agent = replay_agent(env=env, stdout=subprocess.PIPE)
        out, _ = agent.communicate(timeout=60)
        firsts.append(json.loads(out.splitlines()[0])["thread_id"])
    assert firsts == ["0199a214-0000-7000-8000-000000000002", *["0199a213-81c0-7800-8aa1-bbab2a035a53"] * 2]

    hang = {"FAKE_AGENT_STREAM": "codex-0.171.0-offline-hangs.jsonl", "FAKE_AGENT_HANG": "1"}
    agent = replay_agent(env=hang, stdout=subprocess.PIPE)
    try:
        assert agent.stdout is not None
        printed = [agent.stdout.readline() for _ in range(9)]  # every line, printed before it hangs
        assert printed[-1].startswith('{"type":"error"')
        with pytest.raises(subprocess.TimeoutExpired):
            agent.communicate(timeout=0.5)
    finally:
        agent.kill()
    out, _ = agent.communicate(timeout=60)
    assert out == ""  # nothing after the last line


def test_output_saves_every_byte_shows_the_view_and_reports_the_session_id_once_known(tmp_path: Path) -> None:
    """What coord does with an agent's output as it comes (mosaic_invoke.session.output.Output)."""
    env = {"FAKE_AGENT_STREAM": "claude-success.jsonl", "FAKE_AGENT_DELAY": "0.01"}
    agent = subprocess.Popen(
        [sys.executable, str(REPLAY), "-p", "hi", "--session-id", "chosen"],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    log = tmp_path / "sess-001.jsonl"
    shown = io.StringIO()
    named: list[tuple[str, int]] = []
    assert agent.stdout is not None
    output = Output(
        log,
        "claude-stream-json",
        shown,
        on_session_id=lambda sid: named.append((sid, len(log.read_bytes()))),
    )
    with agent.stdout, output:
        for line in agent.stdout:
            output.feed(line)
    assert agent.wait(timeout=60) == 0
    stream = (STREAMS / "claude-success.jsonl").read_text().replace("0c6f8a52-5b1e-4d7a-9f3c-2e8b7a1d4c60", "chosen")
    assert log.read_text() == stream
    lines = shown.getvalue().splitlines()
    assert lines[0] == "· session chosen (model claude-sonnet-4-5, permissions acceptEdits)"
    assert lines[1:] == compact("claude-success.jsonl", "claude-stream-json")[1:]
    assert named == [("chosen", len(stream.splitlines()[0]) + 1)]  # as soon as the first line named it
    assert output.reader.telemetry()["num_turns"] == 12
