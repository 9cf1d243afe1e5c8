"""The report page: its data summary, escaping, and `mosaic-coord report` as a whole process."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import coord, wait_for

from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.views.report.charts import cumulative
from mosaic_invoke.views.report.page import build_report, render_report, write_report

ORCH = Path(".mosaic") / "orchestrator"
START = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)

DEMO_MISSION = """\
id: ledger-v2
name: Ledger service v2
milestones:
  - {id: M1, name: Foundations}
  - {id: M2, name: Storage API}
  - {id: M3, name: Release}
"""

DEMO_TASKS = [
    ("T-001", "done", "M1", "Scaffold the service and its CI"),
    ("T-002", "done", "M1", "Configuration from environment and file"),
    ("T-003", "done", "M1", "Structured logging"),
    ("T-004", "done", "M1", "Health and readiness endpoints"),
    ("T-005", "done", "M2", "Schema migrations"),
    ("T-006", "done", "M2", "Accounts repository"),
    ("T-007", "in-progress", "M2", "Transfers with idempotency keys"),
    ("T-008", "blocked", "M2", "Ledger reconciliation job"),
    ("T-009", "not-started", "M2", "Pagination for account history"),
    ("T-010", "not-started", "M3", "Load test at 500 requests/s"),
    ("T-011", "not-started", "M3", "Runbook and dashboards"),
    ("T-012", "cancelled", "M3", "Legacy CSV export"),
]

# (task, milestone, ended_reason, verdict, tasks_done, minutes, cost): the demo's history.
# The first four come from before coord recorded verdicts, tasks done and cost.
DEMO_SESSIONS: list[tuple[str, str, str | None, str | None, list[str] | None, int, float | None]] = [
    ("T-001", "M1", "completed", None, None, 38, None),
    ("T-002", "M1", "failed", None, None, 12, None),
    ("T-002", "M1", "completed", None, None, 41, None),
    ("T-003", "M1", "crashed", None, None, 7, None),
    ("T-003", "M1", "completed", "accepted", ["T-003"], 33, 1.84),
    ("T-004", "M1", "completed", "rejected", ["T-004"], 29, 1.52),
    ("T-004", "M1", "completed", "accepted", ["T-004"], 18, 0.97),
    ("T-005", "M2", "timeout", "unfinished", [], 60, 3.10),
    ("T-005", "M2", "completed", "accepted", ["T-005"], 44, 2.41),
    ("T-006", "M2", "interrupted", "unfinished", [], 9, 0.44),
    ("T-006", "M2", "completed", "accepted", ["T-006"], 51, 2.95),
    ("T-007", "M2", "failed", "none", [], 3, 0.12),
    ("T-007", "M2", "usage-limit", "unfinished", [], 22, 1.07),
    ("T-007", "M2", "completed", "rejected", ["T-007"], 47, 2.66),
    ("T-007", "M2", "usage-limit", "unfinished", [], 16, 0.88),
]


def demo_mission(root: Path, start: datetime = START) -> Path:
    """A mission with sessions of every ending and verdict, logs, a waiting loop and past loops."""
    orch = root / ORCH
    (orch / "logs").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".mosaic" / "mission.yaml").write_text(DEMO_MISSION)
    rows = "".join(f"| {i} | {s} | {m} | {d} | |\n" for i, s, m, d in DEMO_TASKS)
    (root / "docs" / "TASKS.md").write_text(
        "# Tasks\n\n| id | status | milestone | description | depends_on |\n|---|---|---|---|---|\n" + rows
    )
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/mission/ledger-v2\n")
    records = []
    moment = start
    for number, (task, milestone, reason, verdict, done, minutes, cost) in enumerate(DEMO_SESSIONS, 1):
        session_id = f"sess-{number:03d}"
        ended = moment + timedelta(minutes=minutes)
        log = orch / "logs" / f"{session_id}.log"
        log.write_text(f"{session_id}: the agent's output\n")
        record: dict[str, Any] = {
            "session_id": session_id,
            "runtime": "codex" if number % 4 == 0 else "claude",
            "pid": 4000 + number,
            "started_at": iso(moment),
            "ended_at": iso(ended),
            "ended_reason": reason,
            "exit_code": 0 if reason == "completed" else 1,
            "duration_seconds": minutes * 60,
            "milestone_id": milestone,
            "task_id": task,
            "log_path": str(log),
        }
        if verdict is not None:
            record |= {"verdict": verdict, "tasks_done": done, "cost_usd": cost}
            record |= {"input_tokens": int(cost * 210_000), "output_tokens": int(cost * 9_000)}
            record |= {"cache_read_tokens": int(cost * 1_400_000), "final_message": f"Worked on {task}."}
        if verdict == "rejected":
            verify = orch / "logs" / f"{session_id}.verify.log"
            verify.write_text("FAILED tests/test_transfers.py::test_replay - AssertionError\n")
            record["verification"] = {"command": "make test", "exit_code": 2, "passed": False, "log_path": str(verify)}
            record["rejected_because"] = f"{task} was marked done, but `make test` failed (exit 2)"
        elif verdict == "accepted":
            verify = orch / "logs" / f"{session_id}.verify.log"
            verify.write_text("142 passed in 9.31s\n")
            record["verification"] = {"command": "make test", "exit_code": 0, "passed": True, "log_path": str(verify)}
        records.append(record)
        moment = ended + timedelta(minutes=25 if reason != "usage-limit" else 180)
    past = [
        {"loop_id": "loop-001", "started_at": iso(start), "ended_at": iso(start + timedelta(hours=5)),
         "sessions": ["sess-005", "sess-006", "sess-007"], "stop_reason": "max-failures"},
    ]  # fmt: skip
    state = {"version": 1, "mission_id": "ledger-v2", "status": "active", "loops": past, "sessions": records}
    (orch / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    loop = {
        "loop_id": "loop-002",
        "pid": 4242,
        "host": "ci-runner-3",
        "started_at": records[7]["started_at"],
        "sessions": [r["session_id"] for r in records[7:]],
        "caps": {
            **{"max_sessions": 20, "max_failures": 3, "max_cost_usd": 40.0, "max_hours": None},
            **{"max_wait": 21600.0, "backoff": 90.0, "session_timeout": 5400.0, "report": True},
        },
        "waiting_until": iso(moment + timedelta(minutes=40)),
    }
    (orch / "loop.json").write_text(json.dumps(loop))
    return root


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return demo_mission(tmp_path / "project")


def report_of(root: Path) -> Any:
    mission = load_mission(root / ".mosaic" / "mission.yaml")
    return build_report(mission, mission.orchestrator_path)


def test_summary_of_the_demo_mission(demo: Path) -> None:
    report = report_of(demo)
    assert (report.mission_id, report.status, report.branch) == ("ledger-v2", "active", "mission/ledger-v2")
    assert (report.progress.done, report.progress.total) == (6, 12)
    assert [(m.id, m.status, m.counts["done"], m.total, m.current) for m in report.milestones] == [
        ("M1", "done", 4, 4, False),
        ("M2", "in-progress", 2, 5, True),
        ("M3", "in-progress", 0, 3, False),  # a cancelled task makes it started
    ]
    assert report.sessions == 15
    assert {k: n for k, n in report.endings.items() if n} == {
        "completed": 8, "failed": 2, "interrupted": 1, "crashed": 1, "timeout": 1, "usage-limit": 2,
    }  # fmt: skip
    assert report.verdicts == {"accepted": 4, "rejected": 2, "unfinished": 4, "none": 1, "unknown": 4}
    assert report.warnings == []


def test_tasks_done_over_time_counts_each_task_once_and_says_what_is_unknown(demo: Path) -> None:
    done = report_of(demo).done
    # T-004 was claimed twice (one claim rejected): it counts once; T-007's one claim was rejected: not at all.
    assert (done.total, done.known, done.unknown) == (4, 11, 4)
    assert (done.unknown_first, done.unknown_last) == ("sess-001", "sess-004")
    steps = re.findall(r"H(\d+)V([\d.]+)", done.line)
    heights = [float(y) for _, y in steps]
    assert heights == sorted(heights, reverse=True)  # rises (y grows downwards), never falls
    assert float(steps[-1][1]) < float(steps[0][1])
    assert done.start.startswith("2026-11-18T09:00")


def test_cost_and_tokens_per_milestone_and_task(demo: Path) -> None:
    report = report_of(demo)
    assert report.total.cost_usd == pytest.approx(sum(c for *_, c in DEMO_SESSIONS if c is not None))
    assert (report.total.sessions, report.total.costed) == (15, 11)
    milestones = {u.key: u for u in report.by_milestone}
    assert list(milestones) == ["M1", "M2"]
    assert milestones["M1"].cost_usd == pytest.approx(1.84 + 1.52 + 0.97)
    assert (milestones["M1"].sessions, milestones["M1"].costed, milestones["M1"].label) == (7, 3, "Foundations")
    tasks = {u.key: u for u in report.by_task}
    assert list(tasks)[:3] == ["T-005", "T-007", "T-006"]  # the costliest first
    assert tasks["T-007"].cost_usd == pytest.approx(0.12 + 1.07 + 2.66 + 0.88)
    assert tasks["T-007"].input_tokens == sum(int(c * 210_000) for c in (0.12, 1.07, 2.66, 0.88))
    assert tasks["T-001"].costed == 0 and tasks["T-001"].sessions == 1
    assert tasks["T-007"].label == "Transfers with idempotency keys"
    assert report.other_tasks.sessions == 0


def test_last_sessions_newest_first_with_log_links_relative_to_the_page(demo: Path, tmp_path: Path) -> None:
    mission = load_mission(demo / ".mosaic" / "mission.yaml")
    recent = build_report(mission, mission.orchestrator_path).recent
    assert [s.session_id for s in recent] == [f"sess-{n:03d}" for n in range(15, 0, -1)]
    rejected = next(s for s in recent if s.verdict == "rejected")
    assert rejected.session_id == "sess-014"
    assert rejected.rejected_because == "T-007 was marked done, but `make test` failed (exit 2)"
    assert (rejected.log_href, rejected.verification_href) == ("logs/sess-014.log", "logs/sess-014.verify.log")
    assert rejected.verification_passed is False
    assert (rejected.duration, rejected.ending, rejected.tokens) == (
        "47m 0s",
        "completed",
        int(2.66 * 210_000) + int(2.66 * 9_000) + int(2.66 * 1_400_000),
    )
    elsewhere = build_report(mission, tmp_path / "out" / "pages").recent
    assert elsewhere[0].log_href == "../../project/.mosaic/orchestrator/logs/sess-015.log"
    legacy = recent[-1]
    assert (legacy.verdict, legacy.cost_usd, legacy.tokens, legacy.verification_href) == ("unknown", None, None, None)


def test_a_waiting_loop_and_past_loops(demo: Path) -> None:
    report = report_of(demo)
    loop = report.loop
    assert (loop.loop_id, loop.pid, loop.sessions, loop.ended_at) == ("loop-002", 4242, 8, None)
    assert loop.caps == [
        *[("max_sessions", "20"), ("max_failures", "3"), ("max_cost_usd", "$40.00"), ("max_wait", "6h")],
        *[("backoff", "1m30s"), ("session_timeout", "1h30m"), ("report", "on")],
    ]  # as people read them, not `21600.0` seconds
    assert loop.waiting_until == "2026-11-19T04:15:00.000Z" and loop.session_id is None
    assert [(p.loop_id, p.sessions, p.stop_reason) for p in report.past_loops] == [("loop-001", 3, "max-failures")]


def test_a_running_session_and_a_damaged_loop_record(project: Path) -> None:
    """loop.json has one reader: the page treats a damaged one as `status` does, as absent, and says so."""
    (project / ORCH).mkdir(parents=True)
    record = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 999999,
        "started_at": "2026-11-20T10:00:00.000Z",
        "task_id": "T-002",
    }
    state = {"version": 1, "mission_id": "demo", "status": "active", "sessions": [record]}
    (project / ORCH / "state.json").write_text(json.dumps(state))
    (project / ORCH / "loop.json").write_text(json.dumps({"loop_id": "loop-7", "pid": True, "caps": [1]}))
    report = report_of(project)
    assert report.running.session_id == "sess-001" and report.running.ending == "running"
    assert report.loop is None and report.past_loops == []
    loop_file = project / ORCH / "loop.json"
    assert report.warnings == [
        f"{loop_file}: the loop record is damaged (`pid` must be an integer); treated as absent",
        "sess-001 has no end recorded and no live process holds its lock: it was cut off; `invoke coord.resume` records it",
    ]
    assert report.done.line is None and report.done.unknown == 0


def test_fields_of_the_wrong_type_show_nothing(project: Path) -> None:
    (project / ORCH).mkdir(parents=True)
    record = {
        "session_id": "sess-001", "runtime": "claude", "pid": 1, "started_at": "2026-11-20T10:00:00.000Z",
        "ended_at": "2026-11-20T10:05:00.000Z", "ended_reason": "exploded", "verdict": "maybe",
        "cost_usd": "12", "input_tokens": -4, "output_tokens": True, "tasks_done": "T-001",
        "verification": ["no"], "milestone_id": 7,
    }  # fmt: skip
    (project / ORCH / "state.json").write_text(json.dumps({"mission_id": "demo", "sessions": [record]}))
    (project / ORCH / "loop.json").write_text("[1, 2")
    report = report_of(project)
    row = report.recent[0]
    assert (row.ending, row.ended_reason, row.verdict, row.cost_usd, row.tokens) == (
        "other",
        "exploded",
        "unknown",
        None,
        None,
    )
    assert (report.total.costed, report.by_milestone[0].label) == (0, "no milestone")
    assert (report.done.unknown, report.loop) == (1, None)
    assert report.warnings == [
        f"{project / ORCH / 'loop.json'}:1: the loop record is not valid JSON (Expecting ',' delimiter); treated as absent"
    ]


def test_long_histories_are_summarised(demo: Path) -> None:
    state_file = demo / ORCH / "state.json"
    state = json.loads(state_file.read_text())
    base = state["sessions"][-1]
    state["sessions"] += [
        {**base, "session_id": f"sess-{n:05d}", "task_id": f"T-{n % 12 + 1:03d}"} for n in range(16, 10_001)
    ]
    state_file.write_text(json.dumps(state))
    report = report_of(demo)
    assert len(report.timeline.columns) <= 120 and report.timeline.per_column == 84
    assert sum(1 for _ in report.recent) == 20
    assert len(report.done.line) < 20_000
    page = render_report(report, load_mission(demo / ".mosaic" / "mission.yaml"))
    assert len(page.encode()) < 400_000
    assert "Each column sums 84 consecutive sessions" in page


def test_markup_in_the_mission_is_shown_as_text(project: Path) -> None:
    evil = "<script>alert('x')</script>"
    tasks = (project / "docs" / "TASKS.md").read_text().replace("| Config |", f"| Config {evil} |")
    (project / "docs" / "TASKS.md").write_text(tasks)
    (project / ORCH).mkdir(parents=True)
    record = {
        "session_id": "sess-001", "runtime": "claude", "pid": 1, "started_at": "2026-11-20T10:00:00.000Z",
        "ended_at": "2026-11-20T10:05:00.000Z", "ended_reason": "completed", "task_id": "T-002",
        "final_message": f"done {evil}", "rejected_because": '"><img src=x onerror=alert(1)>',
    }  # fmt: skip
    (project / ORCH / "state.json").write_text(json.dumps({"mission_id": "demo", "sessions": [record]}))
    path = write_report(project / ".mosaic" / "mission.yaml")
    page = path.read_text()
    assert "<script" not in page and "<img" not in page
    assert "Config &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "done &lt;script&gt;" in page


def test_a_project_template_extends_the_packaged_one(demo: Path) -> None:
    templates = demo / ".mosaic" / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text(
        '{% extends "mosaic/report.html.j2" %}{% block footer %}<footer>Team {{ vars.team|default("x") }}: {{ report.mission_id }}</footer>{% endblock %}'
    )
    page = write_report(demo / ".mosaic" / "mission.yaml").read_text()
    assert "<footer>Team x: ledger-v2</footer>" in page
    assert "Ledger service v2" in page


def test_a_broken_project_template_is_one_error(demo: Path) -> None:
    templates = demo / ".mosaic" / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text(
        "{% extends 'mosaic/report.html.j2' %}\n{% block footer %}{{ report.nope }}{% endblock %}"
    )
    with pytest.raises(CoordError, match=r"report\.html\.j2:2: .*nope"):
        write_report(demo / ".mosaic" / "mission.yaml")
    assert not (demo / ORCH / "report.html").exists()


# Whole processes: the real mosaic-coord.


def test_report_writes_only_its_page(demo: Path) -> None:
    before = snapshot(demo)
    result = coord("report", cwd=demo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ".mosaic/orchestrator/report.html\n"
    after = snapshot(demo)
    page = after.pop(demo / ORCH / "report.html").decode()
    assert after == before
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for banned in ("<script", "<link", "@import", "url(http", "src=", "<iframe"):
        assert banned not in page.lower(), banned
    assert "Ledger service v2" in page and "sess-015" in page


def test_report_output_flag_and_open_without_a_browser(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "pages" / "ledger.html"
    env = {"PATH": os.path.dirname(sys.executable), "BROWSER": "", "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    result = coord("report", "--output", str(out), "--open", cwd=demo, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert f"coord: no web browser found; open {out} in one" in result.stderr
    assert 'href="../project/.mosaic/orchestrator/logs/sess-015.log"' in out.read_text()
    assert not (demo / ORCH / "report.html").exists()


def test_report_open_uses_the_browser(demo: Path, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    result = coord("report", "--open", cwd=demo, env={"BROWSER": str(browser)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    wait_for(lambda: opened.exists() and bool(opened.read_text()))
    assert opened.read_text().strip() == (demo / ORCH / "report.html").as_uri()


@pytest.mark.parametrize(
    ("target", "content", "message"),
    [
        pytest.param(ORCH / "state.json", "{not json", r"state\.json:1: state is not valid JSON", id="state"),
        pytest.param(Path("docs/TASKS.md"), b"\xff\xfe", r"TASKS\.md: tasks file is not UTF-8 text", id="tasks"),
    ],
)
def test_report_on_damaged_files_is_one_error_and_writes_nothing(
    demo: Path, target: Path, content: str | bytes, message: str
) -> None:
    path = demo / target
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    before = snapshot(demo)
    result = coord("report", cwd=demo)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("coord: error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert snapshot(demo) == before
    assert coord("status", cwd=demo).stderr == result.stderr  # the same line as status


def test_report_flags_have_help(tmp_path: Path) -> None:
    result = coord("--help", "report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("Options:")[1]
    flags = re.findall(r"^  (?:-\w(?: \w+)?, )?(--[\w-]+)(?:=\w+)? +(\S.*)$", options, re.MULTILINE)
    assert sorted(flag for flag, _ in flags) == ["--mission", "--open", "--output"]


def test_report_to_a_folder_is_one_error(demo: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    result = coord("report", "--output", str(tmp_path), cwd=demo)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"coord: error: {tmp_path}: cannot write: Is a directory\n"
    assert snapshot(tmp_path) == before  # no temporary file left behind


def test_a_mission_without_sessions(project: Path) -> None:
    page = write_report(project / ".mosaic" / "mission.yaml").read_text()
    assert "No sessions yet" in page and "Nothing running." in page
    assert "1 of 3 done (33%)" in page and "No session has reported cost or tokens." in page
    assert sorted(p.name for p in (project / ORCH).iterdir()) == ["report.html"]


def test_tasks_done_over_time_counts_no_rejected_or_unchecked_claim() -> None:
    def record(number: int, verdict: str | None, done: list[str]) -> dict[str, object]:
        found: dict[str, object] = {
            "session_id": f"sess-00{number}",
            "started_at": f"2026-11-20T1{number}:00:00.000Z",
            "ended_at": f"2026-11-20T1{number}:30:00.000Z",
            "tasks_done": done,
        }
        return {**found, "verdict": verdict} if verdict else found

    records = [
        record(1, "rejected", ["T-002"]),
        record(2, "none", ["T-002"]),
        record(3, "accepted", ["T-002"]),
        record(4, None, ["T-003"]),  # a record from before verdicts: taken at its word
    ]
    chart = cumulative(records)
    assert (chart.total, chart.known) == (2, 4)
    assert cumulative(records[:2]).total == 0
