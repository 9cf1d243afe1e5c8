"""coord.init: everything checked before anything is written; the template and .gitignore on their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.config.scaffold import IGNORED, MISSION_YAML, scaffold
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.prompt import packaged_templates
from mosaic_invoke.tasks.tasksfile import load as load_tasks

TEMPLATE = Path(".mosaic/templates/continuation.md.j2")


def files_in(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def test_a_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = scaffold(tmp_path)
    assert done.created == [
        ".mosaic/mission.yaml",
        "docs/TASKS.md",
        ".mosaic/PROTOCOL.md",
        "docs/MISSION-MANIFEST.md",
        "docs/scratchpads/my-mission.md",
    ]
    assert done.ignored == "missing"
    mission = load_mission(tmp_path / ".mosaic" / "mission.yaml")
    assert [m.id for m in mission.milestones] == ["M1", "M2"]
    assert [t.id for t in load_tasks(mission.tasks_path).tasks] == ["T-001", "T-002", "T-003"]
    assert not (tmp_path / ".gitignore").exists()


def test_every_commented_key_of_the_scaffold_is_valid_once_uncommented(tmp_path: Path) -> None:
    text = re.sub(r"^# ( *[a-z_]+:)", r"\1", MISSION_YAML, flags=re.MULTILINE)
    assert "\nverify:" in text and "\nloop:" in text and "\npermissions:" in text
    path = tmp_path / ".mosaic" / "mission.yaml"
    path.parent.mkdir()
    path.write_text(text)
    mission = load_mission(path)
    assert mission.verify is not None and mission.verify.timeout == 1800.0
    assert mission.hooks.after_session == "invoke notify"
    assert dict(mission.loop) == {"max_sessions": 20, "max_hours": 8 * 3600.0}


@pytest.mark.parametrize(
    ("blocker", "message"),
    [
        pytest.param(
            ".mosaic", ".mosaic: a file where init needs a folder; move or rename it, then run init again", id="mosaic"
        ),
        pytest.param(
            "docs", "docs: a file where init needs a folder; move or rename it, then run init again", id="docs"
        ),
        pytest.param(
            ".mosaic/templates",
            ".mosaic/templates: a file where init needs a folder; move or rename it, then run init again",
            id="templates",
        ),
    ],
)
def test_a_file_in_the_way_stops_init_before_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocker: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / blocker).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocker).write_text("in the way")
    before = files_in(tmp_path)
    with pytest.raises(CoordError) as info:
        scaffold(tmp_path, with_template=True)
    assert info.value.problems == (message,)
    assert files_in(tmp_path) == before


def test_a_folder_where_a_file_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").mkdir()
    with pytest.raises(CoordError, match=r"^\.gitignore: a folder where init writes a file; move or rename it$"):
        scaffold(tmp_path, gitignore=True)
    assert files_in(tmp_path) == {".gitignore": None}


def test_template_into_an_existing_mission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    scaffold(tmp_path)
    mission_yaml = (tmp_path / ".mosaic" / "mission.yaml").read_bytes()
    done = scaffold(tmp_path, with_template=True)
    assert done.created == [str(TEMPLATE)]
    assert (tmp_path / TEMPLATE).read_bytes() == (packaged_templates() / "continuation.md.j2").read_bytes()
    assert (tmp_path / ".mosaic" / "mission.yaml").read_bytes() == mission_yaml
    with pytest.raises(CoordError, match=r"continuation\.md\.j2 already exists; invoke coord\.init never overwrites"):
        scaffold(tmp_path, with_template=True)


def test_an_existing_mission_is_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "TASKS.md").write_text("mine")
    with pytest.raises(CoordError, match=r"^docs/TASKS\.md already exists; invoke coord\.init never overwrites"):
        scaffold(tmp_path)
    assert files_in(tmp_path) == {"docs": None, "docs/TASKS.md": b"mine"}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(None, f"{IGNORED}\n", id="created"),
        pytest.param("*.pyc\n", f"*.pyc\n{IGNORED}\n", id="appended"),
        pytest.param("*.pyc", f"*.pyc\n{IGNORED}\n", id="no-final-newline"),
    ],
)
def test_gitignore_gains_the_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str | None, after: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if before is not None:
        (tmp_path / ".gitignore").write_text(before)
    assert scaffold(tmp_path, gitignore=True).ignored == "added"
    assert (tmp_path / ".gitignore").read_text() == after
    again = scaffold(tmp_path, gitignore=True)  # the mission exists now: only .gitignore is looked at
    assert (again.created, again.ignored) == ([], "present")
    assert (tmp_path / ".gitignore").read_text() == after


@pytest.mark.parametrize("line", ["/.mosaic/orchestrator/", ".mosaic/orchestrator", "  .mosaic/orchestrator/  "])
def test_gitignore_already_ignoring_the_folder_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").write_text(f"build/\n{line}\n")
    done = scaffold(tmp_path, gitignore=True)
    assert (done.created[:2], done.ignored) == ([".mosaic/mission.yaml", "docs/TASKS.md"], "present")
    assert (tmp_path / ".gitignore").read_text() == f"build/\n{line}\n"
