"""The reviewer on its own (SPEC section 17): a stand-in reviewer script launched as a runtime,
on a real git repository, judging a claim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_invoke.config.gates import Review
from mosaic_invoke.config.mission import Mission, load_mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.review import DIFF_LIMIT, Claim, Reviewed, review_prompt, reviewer_runtime
from mosaic_invoke.session.reviewer import run_review
from mosaic_invoke.tasks.acceptance import criteria
from mosaic_invoke.tasks.tasksfile import load as load_tasks

REVIEWER = Path(__file__).parents[1] / "review_agent.py"
MISSION = f"""\
id: demo
name: Demo mission
runtimes:
  reviewer: [{sys.executable}, {REVIEWER}, "{{prompt}}"]
  streamer:
    command: [{sys.executable}, {REVIEWER}, "{{prompt}}"]
    output: claude-stream-json
    permissions: full
verify: {{review: {{runtime: reviewer, timeout: 20s}}}}
"""
TASKS = """\
| id | status | description | acceptance |
|---|---|---|---|
| T-001 | done | Parser | an empty file is an error |

## T-001

acceptance: the error names the file
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    root = tmp_path / "project"
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".mosaic" / "mission.yaml").write_text(MISSION)
    (root / "docs" / "TASKS.md").write_text(TASKS)
    (root / ".gitignore").write_text(".mosaic/orchestrator/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def claim_of(root: Path, before: str, *, worker: str = "claude") -> Claim:
    tasks = load_tasks(root / "docs" / "TASKS.md")
    task = tasks.task("T-001")
    assert task is not None
    after = git(root, "rev-parse", "HEAD")
    commits = int(git(root, "rev-list", "--count", f"{before}..{after}"))
    return Claim("sess-004", worker, task, criteria(tasks, task), before, after, commits)


def commit_work(root: Path, text: str = "def parse(path):\n    raise ValueError(path)\n") -> str:
    before = git(root, "rev-parse", "HEAD")
    (root / "parser.py").write_text(text)
    git(root, "add", "parser.py")
    git(root, "commit", "-q", "--allow-empty", "-m", "parser")
    return before


def review(root: Path, mission: Mission | None = None, **env: str) -> Reviewed:
    mission = mission or load_mission(root / ".mosaic" / "mission.yaml")
    assert mission.review is not None
    before = commit_work(root)
    session_env = {**os.environ, "MOSAIC_MISSION_ID": "demo", "MOSAIC_SESSION_ID": "sess-004", **env}
    return run_review(mission, mission.review, claim_of(root, before), session_env)


def test_an_accept_is_the_verdict_and_the_reviewer_gets_the_task_criteria_and_diff(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    reviewed = review(repo, REVIEW_AGENT_SEEN=str(seen))
    assert (reviewed.runtime, reviewed.verdict, reviewed.reasons) == ("reviewer", "accept", None)
    log = repo / ".mosaic" / "orchestrator" / "logs" / "sess-004.review.log"
    assert reviewed.log_path == str(log)
    assert log.read_text() == "I read the diff and the task.\nVERDICT: accept\n"
    given = json.loads(seen.read_text())
    assert given["cwd"] == str(repo)
    assert given["env"] == {"MOSAIC_MISSION_ID": "demo", "MOSAIC_SESSION_ID": "sess-004", "MOSAIC_REVIEW": "1"}
    assert given["stdin"] is True  # /dev/null: nothing waits on a pipe
    prompt = given["prompt"]
    assert "- **Task:** T-001: Parser\n" in prompt
    assert "  - an empty file is an error\n  - the error names the file\n" in prompt
    assert "+    raise ValueError(path)\n" in prompt
    assert prompt.rstrip().endswith("VERDICT: reject: <what is missing or wrong, on one line>")
    assert (repo / ".mosaic" / "orchestrator" / "logs" / "sess-004.review.prompt.md").read_text() == prompt
    assert reviewed.to_dict() == {
        "runtime": "reviewer",
        "verdict": "accept",
        "reasons": None,
        "log_path": str(log),
        "cost_usd": None,
        "duration_seconds": reviewed.duration_seconds,
    }


@pytest.mark.parametrize(
    ("says", "verdict", "reasons"),
    [
        pytest.param("reject: no test for an empty file", "reject", "no test for an empty file", id="reject"),
        pytest.param("reject", "reject", "no reasons given", id="reject-without-reasons"),
        pytest.param("reject: first thought\nVERDICT: accept", "accept", None, id="the-last-line-decides"),
        pytest.param("accept\n**VERDICT: reject: the parser is a stub**", "reject", "the parser is a stub", id="bold"),
    ],
)
def test_the_last_verdict_line_decides(repo: Path, says: str, verdict: str, reasons: str | None) -> None:
    reviewed = review(repo, REVIEW_AGENT_SAYS=says)
    assert (reviewed.verdict, reviewed.reasons, reviewed.reason) == (verdict, reasons, None)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        pytest.param(
            {"REVIEW_AGENT_SAYS": "nothing"},
            "the reviewer gave no `VERDICT:` line; its last words: I read the diff and the task.",
            id="no-verdict",
        ),
        pytest.param(
            {"REVIEW_AGENT_SAYS": "nothing", "REVIEW_AGENT_EXIT": "3"},
            "the reviewer failed (exit 3); its last words: I read the diff and the task.",
            id="failed",
        ),
        pytest.param(
            {"REVIEW_AGENT_SAYS": "maybe"},
            "the reviewer gave no `VERDICT:` line; its last words: VERDICT: maybe",
            id="not-a-verdict",
        ),
    ],
)
def test_no_verdict_leaves_the_claim_to_the_gates_and_says_why(repo: Path, env: dict[str, str], reason: str) -> None:
    reviewed = review(repo, **env)
    assert reviewed.verdict is None
    assert reviewed.reason == reason
    assert reviewed.to_dict()["reason"] == reason
    assert reviewed.said().startswith("review (reviewer): no verdict, the claim is left to the gates: ")


def test_a_reviewer_past_its_timeout_is_ended_with_no_verdict(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    quick = Mission(**{**mission.__dict__, "review": Review(runtime="reviewer", timeout=1.0)})
    reviewed = review(repo, quick, REVIEW_AGENT_HANG="1")
    assert (reviewed.verdict, reviewed.reason) == (None, "the reviewer ran past its 1s")


def test_a_reviewer_that_cannot_start_is_no_verdict(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    missing = Mission(**{**mission.__dict__, "review": Review(runtime="nobody-has-this")})
    reviewed = review(repo, missing)
    assert reviewed.verdict is None
    assert reviewed.reason is not None and reviewed.reason.startswith("unknown runtime `nobody-has-this`")
    absent = Mission(**{**mission.__dict__, "runtimes": {}, "review": Review(runtime="codex")})
    reviewed = review(repo, absent, PATH="/nonexistent")
    assert reviewed.verdict is None and "codex" in str(reviewed.reason)


def test_a_stream_reviewer_s_cost_and_tokens_are_recorded(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    streaming = Mission(**{**mission.__dict__, "review": Review(runtime="streamer")})
    reviewed = review(repo, streaming, REVIEW_AGENT_STREAM="claude", REVIEW_AGENT_SAYS="reject: no test")
    assert (reviewed.verdict, reviewed.reasons, reviewed.cost_usd) == ("reject", "no test", 0.25)
    record = reviewed.to_dict()
    assert (record["input_tokens"], record["output_tokens"], record["num_turns"]) == (1200, 80, 2)
    assert record["log_path"].endswith("sess-004.review.jsonl")


def test_a_diff_too_long_is_cut_at_a_line_with_a_note(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    assert mission.review is not None
    before = commit_work(repo, "".join(f"line {n} " + "x" * 70 + "\n" for n in range(2000)))
    runtime = reviewer_runtime(mission, mission.review, "claude")
    prompt = review_prompt(mission, mission.review, claim_of(repo, before), runtime)
    shown = prompt.split("```diff\n", 1)[1].split("```", 1)[0]
    assert len(shown.encode()) <= DIFF_LIMIT and shown.endswith("x\n")
    size = len(subprocess.run(["git", "diff", before, "HEAD"], cwd=repo, capture_output=True, check=True).stdout)
    assert f"The diff is cut here: {len(shown.encode())} of its {size} bytes are shown." in " ".join(prompt.split())


def test_a_diff_with_a_fence_inside_gets_a_longer_fence(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    assert mission.review is not None
    before = commit_work(repo, "```python\nprint(1)\n```\n")
    prompt = review_prompt(
        mission, mission.review, claim_of(repo, before), reviewer_runtime(mission, mission.review, "x")
    )
    assert "````diff\n" in prompt and "+```python\n" in prompt


def test_no_commit_says_so(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    assert mission.review is not None
    head = git(repo, "rev-parse", "HEAD")
    claim = claim_of(repo, head)._replace(dirty=True)
    prompt = review_prompt(mission, mission.review, claim, reviewer_runtime(mission, mission.review, "x"))
    assert f"No commit was made in this session (`git diff {head[:12]} {head[:12]}` is empty)." in prompt
    assert "The work tree also has changes that were not committed" in prompt


def test_the_reviewer_runs_on_another_runtime_read_only(repo: Path) -> None:
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    default = Review()
    codex = reviewer_runtime(mission, default, "claude")
    assert (codex.name, codex.command[:5]) == ("codex", ("codex", "exec", "-s", "read-only", "--json"))
    claude = reviewer_runtime(mission, default, "codex")
    assert claude.name == "claude" and "--permission-mode" not in claude.command
    assert reviewer_runtime(mission, default, "my-agent").name == "claude"
    fallback = Mission(**{**mission.__dict__, "runtime_fallback": ("codex", "claude")})
    assert reviewer_runtime(fallback, default, "my-agent").name == "codex"
    configured = reviewer_runtime(mission, Review(runtime="streamer"), "claude")
    assert configured.permissions == "read-only"  # its own `permissions: full` does not reach a reviewer


def test_a_team_template_extends_the_packaged_one(repo: Path, tmp_path: Path) -> None:
    templates = repo / ".mosaic" / "templates"
    templates.mkdir()
    (templates / "review.md.j2").write_text(
        '{% extends "mosaic/review.md.j2" %}\n{% block instructions %}## Ours\n\nBe strict on {{ task.id }}.'
        "{% endblock %}\n"
    )
    seen = tmp_path / "seen.json"
    assert review(repo, REVIEW_AGENT_SEEN=str(seen)).verdict == "accept"
    prompt = json.loads(seen.read_text())["prompt"]
    assert "## Ours\n\nBe strict on T-001.\n\n## Verdict" in prompt
    (templates / "review.md.j2").write_text("{{ nope }}\n")
    mission = load_mission(repo / ".mosaic" / "mission.yaml")
    assert mission.review is not None
    with pytest.raises(CoordError, match=r"review.md.j2:1: `nope` is not defined"):
        review_prompt(
            mission,
            mission.review,
            claim_of(repo, git(repo, "rev-parse", "HEAD")),
            reviewer_runtime(mission, mission.review, "x"),
        )
    broken = review(repo)
    assert broken.verdict is None and "`nope` is not defined" in str(broken.reason)
