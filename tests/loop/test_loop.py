"""_loop.run_loop in this process, where a test must shorten what the SPEC fixes (the minute past a limit)."""

from __future__ import annotations

import io
import shlex
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import sessions
from loopkit import REPLAY, agent, make_project

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.loop import policy as _loopsteps
from mosaic_invoke.loop import redraw as _redraw
from mosaic_invoke.loop.loop import run_loop
from mosaic_invoke.store.clock import parse_iso

RUNTIME = f"""\
runtime: replay
runtimes:
  replay: {{command: [{sys.executable}, {REPLAY}, "{{prompt}}"], output: claude-stream-json}}
"""


def test_a_usage_limit_is_waited_out_then_the_next_session_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "project", extra=RUNTIME)
    monkeypatch.setattr(_loopsteps, "LIMIT_MARGIN", 0.5)
    monkeypatch.setenv("FAKE_AGENT_STREAM", "claude-usage-limit.jsonl,claude-success.jsonl")
    monkeypatch.setenv("FAKE_AGENT_STATE", str(tmp_path / "runs"))
    monkeypatch.setenv("FAKE_AGENT_RESETS_IN", "1")
    said: list[str] = []
    caps = LoopCaps(max_sessions=2, backoff=0.0, report=False)
    record = run_loop(
        root / ".mosaic" / "mission.yaml",
        RunOptions(),
        caps,
        allow_failing_gates=False,
        report=said.append,
        display=io.StringIO(),
    )
    assert (record.stop_reason, record.sessions) == ("max-sessions", ["sess-001", "sess-002"])
    first, second = sessions(root)
    assert (first["ended_reason"], second["ended_reason"]) == ("usage-limit", "completed")
    resets, started = parse_iso(first["resume_at"]), parse_iso(second["started_at"])
    assert resets is not None and started is not None
    assert (started - resets).total_seconds() >= 0.5 - 0.01  # not before the reset plus the margin
    assert any(line.startswith("loop waits ") and "for a usage limit to lift" in line for line in said)
    assert (record.failures_in_row, record.attempts, record.cost_usd) == (0, {"T-002": 1}, 0.4725)


def test_a_session_that_ends_between_redraws_is_drawn_while_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second session ends right after the first redraw, too soon for another: a redraw
    waits for its time and draws it, while the third session still runs (it ends only once the
    page shows the second). It was left out until the loop ended."""
    root = make_project(tmp_path / "project")
    page = root / ".mosaic" / "orchestrator" / "report.html"
    (tmp_path / "release-sess-001").touch()
    monkeypatch.setenv("LOOP_AGENT_WAIT_FOR", str(tmp_path / "release-{session}"))
    monkeypatch.setattr(_redraw, "REPORT_EVERY", 2.0)
    after = f"; open({str(tmp_path / 'release-sess-002')!r}, 'w')"  # the second ends once the first is drawn
    monkeypatch.setattr(_redraw, "_REPORT", _redraw._REPORT + after)

    def second_drawn_ended() -> bool:  # its row in the sessions table says how it ended
        rows = page.read_text().split("<tr") if page.exists() else []
        return any("logs/sess-002." in row and "completed</span>" in row for row in rows)

    def release_the_third_once_the_second_is_drawn() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not second_drawn_ended():
            time.sleep(0.05)
        (tmp_path / "drawn-during-sess-003").write_text(str(second_drawn_ended()))
        (tmp_path / "release-sess-003").touch()

    watcher = threading.Thread(target=release_the_third_once_the_second_is_drawn)
    watcher.start()
    try:
        record = run_loop(
            root / ".mosaic" / "mission.yaml",
            RunOptions(command=shlex.split(agent("done"))),
            LoopCaps(max_sessions=3, backoff=0.0, report=True),
            allow_failing_gates=False,
            report=lambda line: None,
            display=io.StringIO(),
        )
    finally:
        (tmp_path / "release-sess-003").touch()
        watcher.join()
    assert record.sessions == ["sess-001", "sess-002", "sess-003"], record.stop_detail
    assert (tmp_path / "drawn-during-sess-003").read_text() == "True"


def test_sessions_in_quick_succession_have_the_report_page_redrawn_once_in_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redraw between sessions at most once in REPORT_EVERY: here, after the first of three
    (the second session ends only once that redraw is done, when another could start); the page
    the loop writes as it stops shows all three."""
    root = make_project(tmp_path / "project")
    drawn = tmp_path / "drawn"
    for session in ("sess-001", "sess-003"):
        (tmp_path / f"release-{session}").touch()
    monkeypatch.setenv("LOOP_AGENT_WAIT_FOR", str(tmp_path / "release-{session}"))
    monkeypatch.setattr(_redraw, "REPORT_EVERY", 3600.0)
    after = f"; open({str(drawn)!r}, 'a').write('drawn\\n'); open({str(tmp_path / 'release-sess-002')!r}, 'w')"
    monkeypatch.setattr(_redraw, "_REPORT", _redraw._REPORT + after)
    record = run_loop(
        root / ".mosaic" / "mission.yaml",
        RunOptions(command=shlex.split(agent("done"))),
        LoopCaps(max_sessions=3, backoff=0.0, report=True),
        allow_failing_gates=False,
        report=lambda line: None,
        display=io.StringIO(),
    )
    assert record.sessions == ["sess-001", "sess-002", "sess-003"], record.stop_detail
    assert drawn.read_text() == "drawn\n"
    page = (root / ".mosaic" / "orchestrator" / "report.html").read_text()
    assert all(f"sess-00{n}" in page for n in (1, 2, 3))
