from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN, coord, wait_for

from mosaic_invoke.store.clock import format_duration
from mosaic_invoke.store.liveness import is_alive

DONE_AGENT = f"{sys.executable} {Path(__file__).parents[1] / 'done_agent.py'}"

GOLDEN = Path(__file__).parents[1] / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def golden_project(tmp_path: Path, case: str) -> tuple[Path, dict[str, str | None]]:
    spec = json.loads((GOLDEN / case / "case.json").read_text())
    root = tmp_path / "project"
    shutil.copytree(GOLDEN / case / "project", root)
    if spec["git_branch"]:
        subprocess.run(["git", "init", "-q", "-b", spec["git_branch"], str(root)], check=True)
    return root.resolve(), spec


@pytest.mark.parametrize("case", CASES)
def test_default_template_reproduces_the_seed(tmp_path: Path, case: str) -> None:
    root, spec = golden_project(tmp_path, case)
    flags = ["--task", str(spec["task"]), "--runtime", str(spec["runtime"])]
    if spec["milestone"]:
        flags += ["--milestone", spec["milestone"]]
    result = coord("run", "--print-only", "--json", *flags, cwd=root)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)

    expected_prompt = (GOLDEN / case / "expected-prompt.md").read_text().replace("@PROJECT@", str(root))
    assert printed["prompt"] == expected_prompt
    launch = {"claude": ["claude", "-p"], "codex": ["codex", "exec"]}[str(spec["runtime"])]
    assert printed["command"][:2] == launch and expected_prompt in printed["command"]

    expected_capsule = json.loads((GOLDEN / case / "expected-capsule.json").read_text().replace("@PROJECT@", str(root)))
    written = json.loads((root / ".mosaic" / "orchestrator" / "next-task.json").read_text())
    assert list(written) == ["generated_at", *expected_capsule]
    del written["generated_at"]
    assert written == expected_capsule
    assert printed["capsule"]["next_task"] == spec["task"]


def test_print_only_changes_nothing_but_the_capsule(tmp_path: Path) -> None:
    root, _ = golden_project(tmp_path, "claude-45s")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    result = coord("run", "--print-only", "-t", "B-2", cwd=root)
    assert result.returncode == 0, result.stderr
    command, rest = result.stdout.split("\n\n", 1)
    assert command.startswith("command: claude -p {prompt} --output-format stream-json --verbose --session-id ")
    assert rest.startswith("## Continuation Mission\n")
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    capsule = root / ".mosaic" / "orchestrator" / "next-task.json"
    assert set(after) - set(before) == {capsule, root / ".mosaic" / "orchestrator" / "coord.lock"}
    assert all(after[p] == content for p, content in before.items())


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0s"),
        (45, "45s"),
        (59, "59s"),
        (60, "1m 0s"),
        (185, "3m 5s"),
        (3599, "59m 59s"),
        (3600, "1h 0m"),
        (7653, "2h 7m"),
        (90061, "25h 1m"),
    ],
)
def test_duration_format(seconds: int | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.fixture
def golden_root(tmp_path: Path) -> Path:
    return golden_project(tmp_path, "claude-45s")[0]


def print_prompt(root: Path, *flags: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return coord("run", "--print-only", "--json", "--task", "B-2", *flags, cwd=cwd or root)


def prompt_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["prompt"])


def test_team_template_extends_the_default_and_overrides_one_block(golden_root: Path) -> None:
    template = golden_root / ".mosaic" / "templates" / "continuation.md.j2"
    template.parent.mkdir(parents=True)
    template.write_text(
        '{% extends "mosaic/continuation.md.j2" %}\n'
        "{% block instructions -%}\n"
        "## Instructions\n\n"
        "Work on **{{ task.id }}** ({{ task.description }}, owner {{ task.columns.milestone }}) "
        "for team {{ vars.team }} with `{{ runtime.launch }}`.\n"
        "{%- endblock %}\n"
    )
    config = golden_root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "vars: {team: payments}\n")
    prompt = prompt_of(print_prompt(golden_root))
    expected = (GOLDEN / "claude-45s" / "expected-prompt.md").read_text().replace("@PROJECT@", str(golden_root))
    head = expected.split("## Instructions")[0]
    assert (
        prompt == head + "## Instructions\n\nWork on **B-2** (Renderer, owner M2) for team payments with `claude -p`."
    )


def test_template_lookup_precedence(golden_root: Path, tmp_path: Path) -> None:
    def template(path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    config = golden_root / ".mosaic" / "mission.yaml"
    assert prompt_of(print_prompt(golden_root)).startswith("## Continuation Mission")  # packaged
    template(golden_root / ".mosaic" / "templates" / "continuation.md.j2", "project {{ task.id }}")
    assert prompt_of(print_prompt(golden_root)) == "project B-2"
    template(golden_root / "team.j2", "mission.yaml {{ task.id }}")
    config.write_text(config.read_text() + "template: team.j2\n")
    assert prompt_of(print_prompt(golden_root)) == "mission.yaml B-2"
    template(golden_root / "conf.j2", "config {{ task.id }}")
    (golden_root / "invoke.yaml").write_text("coord:\n  template: conf.j2\n")
    assert prompt_of(print_prompt(golden_root)) == "config B-2"
    flag = template(tmp_path / "flag.j2", "flag {{ task.id }}")
    assert prompt_of(print_prompt(golden_root, "--template", str(flag))) == "flag B-2"


def test_a_missing_template_is_a_clear_error(golden_root: Path) -> None:
    result = print_prompt(golden_root, "--template", "nope.j2")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("coord: error: --template: template ")
    assert result.stderr.strip().endswith("nope.j2 not found")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "ok\n{{ mission.name }}\n{{ nope }}\n",
            3,
            "`nope` is not defined; the names are: acceptance, branch, milestone",
            id="undefined",
        ),
        pytest.param("ok\n\n{% if %}\n", 3, "template syntax error", id="syntax"),
        pytest.param(
            "{% extends 'mosaic/continuation.md.j2' %}\n{% block setup %}{{ task.nope }}{% endblock %}\n",
            2,
            "`task` has no `nope`; it has: cells, columns",
            id="undefined-in-block",
        ),
        pytest.param(
            "a\n{% include 'mosaic/missing.j2' %}\n", 2, "template 'mosaic/missing.j2' not found", id="missing-include"
        ),
    ],
)
def test_template_errors_name_file_and_line(golden_root: Path, text: str, line: int, message: str) -> None:
    template = golden_root / "bad.j2"
    template.write_text(text)
    result = print_prompt(golden_root, "--template", "bad.j2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (error,) = result.stderr.strip().splitlines()
    assert error.startswith(f"coord: error: bad.j2:{line}: ")
    assert message in error


def test_values_from_the_tasks_file_are_data_not_template_code(golden_root: Path) -> None:
    tasks = golden_root / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text().replace("| Renderer |", "| Render {{ 7*7 }} {% raw %} {# x #} |"))
    config = golden_root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text().replace("name: Parser mission", "name: 'Parser {{ 6*7 }}'"))
    template = golden_root / "t.j2"
    template.write_text("{{ mission.name }} / {{ task.description }}")
    assert (
        prompt_of(print_prompt(golden_root, "--template", "t.j2"))
        == "Parser {{ 6*7 }} / Render {{ 7*7 }} {% raw %} {# x #}"
    )


def test_status_does_not_import_jinja2(golden_root: Path) -> None:
    code = (
        "import sys\nfrom mosaic_invoke.views.status import status\nfrom pathlib import Path\n"
        f"status(Path({str(golden_root / '.mosaic' / 'mission.yaml')!r}))\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_template_edited_while_a_process_runs_is_read_again(golden_root: Path) -> None:
    """A loop runs for days: a team that edits its template sees the next prompt change."""
    import os

    from mosaic_invoke.session.prompt import render

    template = golden_root / "once.j2"
    template.write_text("{{ x }}")
    assert render(template, {"x": 1}) == "1"
    template.write_text("changed {{ x }}")
    os.utime(template, (1, 1))  # another time than the first: what Jinja compares
    assert render(template, {"x": 2}) == "changed 2"


def test_the_readme_template_example_renders(golden_root: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("```jinja\n", 1)[1].split("```", 1)[0]
    template = golden_root / ".mosaic" / "templates" / "continuation.md.j2"
    template.parent.mkdir(parents=True)
    template.write_text(example)
    config = golden_root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "vars: {team: payments}\n")
    prompt = prompt_of(print_prompt(golden_root))
    assert prompt.endswith(
        "## Instructions\n\n1. Read `docs/TASKS.md`, then work on **B-2**: Renderer\n"
        "2. Owner: nobody; team payments\n3. Run `make lint test` before you mark it done"
    )


def test_an_unusable_cache_folder_does_not_stop_rendering(golden_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    result = coord("run", "--print-only", "-t", "B-2", cwd=golden_root, env={"XDG_CACHE_HOME": str(blocker)})
    assert result.returncode == 0, result.stderr
    assert "## Continuation Mission" in result.stdout


# The previous session's lines (SPEC section 9): what the next prompt says after each ending.


def next_prompt(root: Path, command: str = "run") -> str:
    result = coord(command, "--print-only", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["prompt"])


def previous_lines(prompt: str) -> list[str]:
    section = prompt.split("## Previous Session Context\n\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()[1:]  # after the Session line, which holds a duration


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        pytest.param(
            1,
            ["- **Ended:** failed", "- **Last completed task:** —", "- **Unfinished task:** T-002 (failed, exit 1)"],
            id="failed",
        ),
        pytest.param(0, ["- **Ended:** completed", "- **Last completed task:** T-002"], id="completed"),
    ],
)
def test_the_prompt_after_a_session_says_how_its_task_ended(project: Path, exit_code: int, expected: list[str]) -> None:
    ran = coord("run", "--command", AGENT_COMMAND, cwd=project, env={"FAKE_AGENT_EXIT": str(exit_code)})
    assert ran.returncode == exit_code, ran.stderr
    assert previous_lines(next_prompt(project)) == expected


def test_the_prompt_after_a_crashed_session(project: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    first = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", "--command", AGENT_COMMAND],
        cwd=project,
        env={**os.environ, "FAKE_AGENT_SLEEP": "120", "FAKE_AGENT_READY": str(ready)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(ready.exists)
        agent = int(ready.read_text())
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    wait_for(lambda: not is_alive(agent, None))
    expected = ["- **Ended:** crashed", "- **Last completed task:** —", "- **Unfinished task:** T-002 (crashed)"]
    assert previous_lines(next_prompt(project, "resume")) == expected
    resumed = coord("resume", "--command", "true", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert previous_lines(next_prompt(project)) == ["- **Ended:** completed", "- **Last completed task:** T-002"]


def test_a_rejected_claim_adds_the_verification_line(project: Path) -> None:
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "verify: {command: 'echo checking; exit 2'}\n")
    ran = coord("run", "--command", DONE_AGENT, cwd=project)
    assert ran.returncode == 0, ran.stderr
    log = project.resolve() / ".mosaic" / "orchestrator" / "logs" / "sess-001.verify.log"
    assert previous_lines(next_prompt(project)) == [
        "- **Ended:** completed",
        "- **Last completed task:** —",  # the verdict rules, not the exit code
        "- **Unfinished task:** T-002 (rejected: `echo checking; exit 2` failed (exit 2))",
        "- **Verification:** T-002 was marked done, but `echo checking; exit 2` failed (exit 2); "
        f"it is in-progress again; output: {log}",
    ]
    assert log.read_text() == "$ echo checking; exit 2\nchecking\n"


def resume_point(prompt: str) -> list[str]:
    return prompt.split("## Resume Point\n\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_acceptance_criteria_are_one_line_under_the_next_task_and_in_the_capsule(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(
        "| id | status | milestone | depends_on | acceptance |\n|---|---|---|---|---|\n"
        "| T-001 | done | M1 | | |\n"
        "| T-002 | not-started | M1 | T-001 | `make test` passes |\n"
        "| T-003 | not-started | M1 | T-002 | |\n"
        "\n## T-002: Config\n\nacceptance: a missing file is an error naming it\n"
    )
    result = coord("run", "--print-only", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert resume_point(printed["prompt"])[1:3] == [
        "- **Next task:** T-002",
        "- **Acceptance:** `make test` passes; a missing file is an error naming it",
    ]
    assert printed["capsule"]["acceptance"] == ["`make test` passes", "a missing file is an error naming it"]
    capsule = json.loads((project / ".mosaic" / "orchestrator" / "next-task.json").read_text())
    assert list(capsule)[-1] == "acceptance"
    other = coord("run", "--print-only", "--json", "--task", "T-003", cwd=project)
    assert "Acceptance" not in json.loads(other.stdout)["prompt"]  # a task without criteria: no line
    assert "acceptance" not in json.loads(other.stdout)["capsule"]


def test_a_claim_the_reviewer_rejected_adds_the_review_line_with_its_reasons(project: Path) -> None:
    orchestrator = project / ".mosaic" / "orchestrator"
    orchestrator.mkdir()
    log = str(orchestrator / "logs" / "sess-001.review.jsonl")
    review = {"runtime": "codex", "verdict": "reject", "reasons": "no test for an empty file", "log_path": log}
    record = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 4242,
        "started_at": "2026-11-20T10:00:00.000Z",
        "ended_at": "2026-11-20T10:00:45.000Z",
        "ended_reason": "completed",
        "exit_code": 0,
        "duration_seconds": 45,
        "task_id": "T-002",
        "verdict": "rejected",
        "rejected_because": "review: no test for an empty file",
        "review": {**review, "cost_usd": 0.31},
    }
    state = {"version": 1, "mission_id": "demo", "status": "active", "sessions": [record]}
    (orchestrator / "state.json").write_text(json.dumps(state))
    assert previous_lines(next_prompt(project))[-2:] == [
        "- **Unfinished task:** T-002 (rejected by the reviewer)",  # the reasons once, below
        "- **Review:** T-002 was marked done and its checks passed, but the reviewer (codex) rejected it: "
        f"no test for an empty file; it is in-progress again; review: {log}",
    ]
