"""A session's life through the real mosaic-coord: `--json` output, session and idle timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN, coord, sessions, wait_for

ORCH = Path(".mosaic") / "orchestrator"
CHATTY = f"{sys.executable} -u -c 'import time\nfor _ in range(8): print(\"tick\"); time.sleep(0.1)'"
# A line every 0.05 s for 2.5 s in all: longer than an idle limit of 2 s, never silent for more than a tenth
# of it (the agent's start-up, which counts too, has room to spare on a loaded machine).
CHATTIER = f"{sys.executable} -u -c 'import time\nfor _ in range(50): print(\"tick\"); time.sleep(0.05)'"


def test_run_json_prints_one_object_and_the_agent_output_on_stderr(project: Path) -> None:
    result = coord("run", "--json", "--command", AGENT_COMMAND, cwd=project, env={"FAKE_AGENT_EXIT": "2"})
    assert result.returncode == 2
    record = json.loads(result.stdout)  # nothing else on stdout
    assert (record["session_id"], record["ended_reason"], record["exit_code"]) == ("sess-001", "failed", 2)
    assert record == sessions(project)[0]
    assert "fake agent done" in result.stderr
    assert "fake agent done" not in result.stdout


def run_until_ended(project: Path, args: list[str], env: dict[str, str], *, detach: bool) -> tuple[int, dict, str]:
    """Run a session to its end, in the foreground or detached: exit code, record, messages."""
    if not detach:
        result = coord("run", "--json", *args, cwd=project, env=env)
        return result.returncode, json.loads(result.stdout), result.stderr
    result = coord("run", "--detach", "--json", *args, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    log = Path(json.loads(result.stdout)["log_path"])
    # The supervisor records the end, then removes the lock: both done once the lock is gone.
    lock = project / ORCH / "session.lock"
    wait_for(lambda: bool(sessions(project)[0].get("ended_at")) and not lock.exists())
    return result.returncode, sessions(project)[0], log.read_text()


@pytest.mark.parametrize(
    ("flag", "limit", "command", "reason", "code", "detach"),
    [
        pytest.param("--session-timeout", "0.5", AGENT_COMMAND, "timeout", 143, False, id="session-hung-foreground"),
        pytest.param("--session-timeout", "0.5", AGENT_COMMAND, "timeout", 143, True, id="session-hung-detached"),
        pytest.param("--idle-timeout", "0.5", AGENT_COMMAND, "timeout", 143, False, id="idle-silent-foreground"),
        pytest.param("--idle-timeout", "0.5", AGENT_COMMAND, "timeout", 143, True, id="idle-silent-detached"),
        pytest.param("--idle-timeout", "2", CHATTIER, "completed", 0, False, id="idle-chatty-foreground"),
    ],
)
def test_timeouts_end_a_hung_agent(
    project: Path, flag: str, limit: str, command: str, reason: str, code: int, *, detach: bool
) -> None:
    began = time.monotonic()
    exit_code, record, messages = run_until_ended(
        project, ["--command", command, flag, limit], {"FAKE_AGENT_SLEEP": "120"}, detach=detach
    )
    assert (record["ended_reason"], record["exit_code"]) == (reason, code), messages
    assert time.monotonic() - began < 60  # not the agent's 120 s
    kind = flag.removeprefix("--").removesuffix("-timeout")
    ended = f"coord: session sess-001 ran past its {kind} timeout and was ended"
    if reason == "timeout":
        assert ended in messages
        assert detach or exit_code == 143
    else:
        assert "ran past" not in messages
        assert messages.count("tick") == 50  # the agent's view, on stderr with --json
        assert detach or exit_code == 0
    assert not (project / ORCH / "session.lock").exists()


def test_a_reader_that_goes_away_does_not_stop_the_session_being_followed(project: Path) -> None:
    """`mosaic-coord run | head -1`: the view stops, the log and the record go on."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # before coord starts: its first line of the agent's view meets a closed pipe
    process = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", "--command", CHATTY],
        cwd=project,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    (session,) = sessions(project)
    assert (session["ended_reason"], session["exit_code"]) == ("completed", 0), stderr
    assert Path(session["log_path"]).read_text() == "tick\n" * 8
    assert not (project / ORCH / "session.lock").exists()
    assert "Traceback" not in stderr


def test_a_state_that_lost_sessions_never_makes_coord_reuse_their_ids(project: Path) -> None:
    """state.json put back to before a session (its journal deleted, an old copy restored):
    the next session takes the next id whose log holds no output, and says why, instead of
    starting sess-001 again over that session's log and prompt."""
    assert coord("run", "--command", AGENT_COMMAND, cwd=project).returncode == 0
    logs = project / ".mosaic" / "orchestrator" / "logs"
    first_log = (logs / "sess-001.log").read_bytes()
    assert first_log
    first_prompt = (logs / "sess-001.prompt.md").read_bytes()
    (project / ".mosaic" / "orchestrator" / "state.json").unlink()  # the state before any session
    again = coord("run", "--command", AGENT_COMMAND, cwd=project)
    assert again.returncode == 0, again.stderr
    assert [record["session_id"] for record in sessions(project)] == ["sess-002"]
    assert (logs / "sess-001.log").read_bytes() == first_log
    assert (logs / "sess-001.prompt.md").read_bytes() == first_prompt
    assert "warning: logs/ holds sess-001, which state.json does not record" in again.stderr, again.stderr
