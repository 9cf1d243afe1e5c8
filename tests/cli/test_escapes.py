"""Text from tasks files and agents reaches the terminal with its control characters escaped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import coord

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\x1b[H"
TASKS = f"""\
# Tasks

| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | done | M1 | Scaffold | |
| T-{TITLE} | not-started | M1 | Clear {CLEAR}the screen | T-001 |
"""
SHOUTING = "import sys\nsys.stdout.write('agent says \\x1b[2J\\x1b]0;title\\x07hi\\tthere\\nsecond line\\n')\n"


def no_controls(text: str) -> bool:
    return not any((ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F for c in text)


def test_task_ids_and_text_are_escaped_in_status_and_the_prompt(project: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(TASKS)
    status = coord("status", cwd=project)
    assert status.returncode == 0, status.stderr
    assert "next     T-\\x1b]0;pwned\\x07\n" in status.stdout
    preview = coord("run", "--print-only", cwd=project)
    assert preview.returncode == 0, preview.stderr
    assert "Continue execution from task **T-\\x1b]0;pwned\\x07**" in preview.stdout
    for result in (status, preview):
        assert no_controls(result.stdout) and no_controls(result.stderr)
    as_json = coord("status", "--json", cwd=project)
    assert json.loads(as_json.stdout)["next_task"] == f"T-{TITLE}"  # JSON keeps the value, escaped its own way


def test_an_agents_output_and_coords_lines_about_it_are_escaped(project: Path, tmp_path: Path) -> None:
    (project / "docs" / "TASKS.md").write_text(TASKS)
    script = tmp_path / "shouting_agent.py"
    script.write_text(SHOUTING)
    result = coord("run", "--command", f"{sys.executable} {script}", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "agent says \\x1b[2J\\x1b]0;title\\x07hi\tthere\nsecond line\n"
    assert "coord: session sess-001 started: task T-\\x1b]0;pwned\\x07, pid " in result.stderr
    logs = coord("logs", cwd=project)
    assert logs.stdout == result.stdout
    raw = coord("logs", "--raw", cwd=project)
    assert raw.stdout == result.stdout
    unknown = coord("run", "--task", CLEAR, cwd=project)
    assert unknown.returncode == 1
    looped = coord("loop", "--max-sessions", "1", "--command", f"{sys.executable} {script}", cwd=project)
    assert looped.returncode == 4, looped.stderr
    assert "coord: loop 1/1: sess-002 T-\\x1b]0;pwned\\x07 " in looped.stderr
    for each in (result, logs, raw, unknown, looped):
        assert no_controls(each.stdout) and no_controls(each.stderr), each
