"""The presets' argv against the real claude and codex CLIs, and coord recording their sessions.

No credentials reach them: claude gets as far as its "Not logged in" result, codex as far
as `thread.started` (offline it then waits for the network without end, so it is killed).
Skipped, with the reason, when npm cannot install them (see `cli/real_clis.py`).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import BIN

from cli.real_clis import (
    DEADLINE,
    agent_environment,
    end_group,
    group_members,
    install,
    lines_until,
    started_all,
    thread_saved,
    wait_until,
)
from mosaic_invoke.agents import reader_for
from mosaic_invoke.agents.runtimes import PERMISSIONS, PROMPT_ARG_LIMIT, Invocation, Runtime, resolve_runtime
from mosaic_invoke.config.gates import Review
from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.session.review import Claim
from mosaic_invoke.session.reviewer import run_review
from mosaic_invoke.tasks.tasksfile import load as load_tasks

PERMISSION_MODES = {"read-only": "default", "workspace": "acceptEdits", "full": "bypassPermissions"}
PROMPT = "Reply with the word ready."
# The first test here installs the CLIs with npm, which may take up to 15 minutes (see install()).
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def clis() -> dict[str, Path]:
    return install()


def claude_events(
    clis: Mapping[str, Path], project: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> dict[str, list[dict[str, object]]]:
    """Each launch's events to its end: claude exits after its result, and only then has it saved
    the session that a resume continues (killed at the result, the resume finds no conversation)."""
    with started_all(clis["claude"], project, launches) as processes:
        events = {name: lines_until(process, None) for name, process in processes.items()}
        for process in processes.values():
            process.wait()
        return events


def resumed_by_stdin(runtime: Runtime, agent_session_id: str, prompt: str) -> Invocation:
    launch = runtime.invocation(prompt, session_uuid=str(uuid.uuid4()), agent_session_id=agent_session_id)
    assert launch.stdin == "prompt" and prompt not in launch.argv and agent_session_id in launch.argv
    return launch


def test_claude_presets_parse_fresh_resumed_and_by_stdin(clis: dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    ids = {level: str(uuid.uuid4()) for level in PERMISSIONS}
    runtimes = {level: resolve_runtime("claude", {}, permissions=level) for level in PERMISSIONS}
    fresh = {level: (runtimes[level].invocation(PROMPT, session_uuid=ids[level]), PROMPT) for level in PERMISSIONS}
    long_prompt = PROMPT + " " * PROMPT_ARG_LIMIT
    ids["stdin"] = str(uuid.uuid4())
    by_stdin = runtimes["workspace"].invocation(long_prompt, session_uuid=ids["stdin"])
    assert by_stdin.stdin == "prompt" and long_prompt not in by_stdin.argv
    events = claude_events(clis, project, {**fresh, "stdin": (by_stdin, long_prompt)})
    for name, seen in events.items():
        errors = (project / f"{name}.err").read_text()
        assert seen and seen[-1]["type"] == "result", f"{name}: {errors}"
        reader = reader_for("claude-stream-json")
        for event in seen:
            reader.feed(json.dumps(event))
        assert "Not logged in" in reader.telemetry()["final_message"], errors
        if name in PERMISSION_MODES:
            assert seen[0]["permissionMode"] == PERMISSION_MODES[name]
            assert reader.agent_session_id == ids[name]  # the id coord chose before launch

    resumed = {
        level: (
            runtimes[level].invocation("Go on.", session_uuid=str(uuid.uuid4()), agent_session_id=ids[level]),
            "Go on.",
        )
        for level in PERMISSIONS
    }
    resumed["stdin"] = (resumed_by_stdin(runtimes["workspace"], ids["stdin"], long_prompt), long_prompt)
    for name, seen in claude_events(clis, project, resumed).items():
        mode = PERMISSION_MODES.get(name, "acceptEdits")
        assert seen and seen[0]["type"] == "system" and seen[0]["permissionMode"] == mode, (
            project / f"{name}.err"
        ).read_text()
        assert seen[-1]["type"] == "result" and "Not logged in" in str(seen[-1]["result"])


def codex_threads(
    clis: Mapping[str, Path], project: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> dict[str, list[dict[str, object]]]:
    """Each launch's events up to `thread.started`, once codex has saved that thread (killed
    sooner, a resume of it finds none, or an empty one). A launch that printed nothing, as codex did once under
    load, is tried once more on its own; its stderr is in ``project/<name>.err``."""
    found = _codex_threads(clis, project, launches)
    again = {name: launches[name] for name, seen in found.items() if not seen}
    for name, launch in again.items():
        found.update(_codex_threads(clis, project, {name: launch}))
    return found


def _codex_threads(
    clis: Mapping[str, Path], project: Path, launches: Mapping[str, tuple[Invocation, str]]
) -> dict[str, list[dict[str, object]]]:
    saved = Path(os.environ["HOME"]) / ".codex" / "sessions"
    found = {}
    with started_all(clis["codex"], project, launches) as processes:
        for name, process in processes.items():
            found[name] = seen = lines_until(process, "thread.started")
            thread = seen[-1].get("thread_id") if seen else None
            if isinstance(thread, str):
                wait_until(functools.partial(thread_saved, saved, thread))
    return found


def test_codex_presets_parse_fresh_resumed_and_by_stdin(clis: dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    runtimes = {level: resolve_runtime("codex", {}, permissions=level) for level in PERMISSIONS}
    launches = {
        level: (runtimes[level].invocation(PROMPT, session_uuid=str(uuid.uuid4())), PROMPT) for level in PERMISSIONS
    }
    long_prompt = PROMPT + " " * PROMPT_ARG_LIMIT
    by_stdin = runtimes["workspace"].invocation(long_prompt, session_uuid=str(uuid.uuid4()))
    assert by_stdin.argv[-1] == "-" and by_stdin.stdin == "prompt"
    threads = {}
    for name, seen in codex_threads(clis, project, {**launches, "stdin": (by_stdin, long_prompt)}).items():
        assert seen and seen[-1]["type"] == "thread.started", (project / f"{name}.err").read_text()
        threads[name] = str(seen[-1]["thread_id"])
    resumed = {
        level: (
            runtimes[level].invocation("Go on.", session_uuid=str(uuid.uuid4()), agent_session_id=threads[level]),
            "Go on.",
        )
        for level in PERMISSIONS
    }
    resumed["stdin"] = (resumed_by_stdin(runtimes["workspace"], threads["stdin"], long_prompt), long_prompt)
    for name, seen in codex_threads(clis, project, resumed).items():
        assert seen and seen[-1] == {"type": "thread.started", "thread_id": threads[name]}, (
            project / f"{name}.err"
        ).read_text()


def coord_session(clis: Mapping[str, Path], project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """`mosaic-coord run` with the real CLIs first on PATH and no credentials; its one session.

    coord runs in a process group of its own: once it returns, nothing it started may be left.
    """
    env = {**agent_environment(), "PATH": f"{clis['claude'].parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=DEADLINE * 2)
        wait_until(lambda: not group_members(process.pid), timeout=60)
        left = group_members(process.pid)
    finally:
        end_group(process)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    (session,) = json.loads((project / ".mosaic" / "orchestrator" / "state.json").read_text())["sessions"]
    return result, {**session, "left_running": left}


def first_event(session: dict) -> dict:
    """The first event in the session's log (the agents' stderr shares it)."""
    lines = Path(session["log_path"]).read_text().splitlines()
    return dict(json.loads(next(line for line in lines if line.startswith("{"))))


def test_coord_records_a_real_claude_session(clis: dict[str, Path], project: Path) -> None:
    result, session = coord_session(clis, project, "--runtime", "claude")
    assert result.returncode == 1, result.stderr
    assert (session["ended_reason"], session["output"], session["is_error"]) == ("failed", "claude-stream-json", True)
    assert "Not logged in" in session["final_message"]
    assert (session["result_subtype"], session["num_turns"]) == ("success", 1)
    init = first_event(session)
    assert (init["type"], init["session_id"], init["permissionMode"]) == (
        "system",
        session["agent_session_id"],
        "acceptEdits",
    )
    assert "✗ result: error, 1 turn, $0.00: Not logged in · Please run /login" in result.stdout.splitlines()
    assert not session["left_running"]


def test_coord_records_a_real_codex_session_ended_by_its_timeout(clis: dict[str, Path], project: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    # codex must name its thread first: node and codex start in a second or two, more on a loaded machine.
    result, session = coord_session(clis, project, "--runtime", "codex", "--session-timeout", "15s")
    assert result.returncode == 143, result.stderr
    assert (session["ended_reason"], session["output"]) == ("timeout", "codex-json")
    started = first_event(session)
    assert started["type"] == "thread.started" and session["agent_session_id"] == started["thread_id"]
    assert f"· session {started['thread_id']}" in result.stdout.splitlines()
    assert not session["left_running"]  # SIGTERM reached codex itself, not only its node launcher


def test_the_reviewer_s_claude_and_codex_launch_lines_parse(clis: dict[str, Path], tmp_path: Path) -> None:
    """The reviewer is launched as coord launches it, read-only: claude starts (`default`
    permissions) and answers not logged in, which is no verdict; codex starts its thread and is
    stopped there (offline it would wait for the network)."""
    project = tmp_path / "project"
    (project / ".mosaic").mkdir(parents=True)
    (project / "docs").mkdir()
    (project / ".mosaic" / "mission.yaml").write_text("id: demo\nname: Demo\nverify: {review: true}\n")
    (project / "docs" / "TASKS.md").write_text("| id | status |\n|---|---|\n| T-1 | done |\n")
    git = {"GIT_AUTHOR_NAME": "T", "GIT_COMMITTER_NAME": "T", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_EMAIL": "t@x"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", *args], cwd=project, check=True, env={**os.environ, **git})
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    mission = load_mission(project / ".mosaic" / "mission.yaml")
    task = load_tasks(mission.tasks_path).task("T-1")
    assert task is not None
    env = {**agent_environment(), "PATH": f"{clis['claude'].parent}{os.pathsep}{os.environ['PATH']}"}
    logs = project / ".mosaic" / "orchestrator" / "logs"

    claude = run_review(mission, Review(), Claim("sess-001", "codex", task, (), head, head), env)
    assert (claude.runtime, claude.verdict) == ("claude", None)
    assert "Not logged in" in str(claude.reason), claude
    init = json.loads((logs / "sess-001.review.jsonl").read_text().splitlines()[0])
    assert (init["type"], init["permissionMode"]) == ("system", "default")

    log = logs / "sess-002.review.jsonl"

    def thread_started() -> bool:
        return log.exists() and '"thread.started"' in log.read_text()

    codex = run_review(
        mission,
        Review(timeout=DEADLINE),
        Claim("sess-002", "claude", task, (), head, head),
        env,
        stop_requested=thread_started,
    )
    assert (codex.runtime, codex.verdict, codex.interrupted) == ("codex", None, True), codex
    assert thread_started(), log.read_text()
