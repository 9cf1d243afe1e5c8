"""`init` as a new user meets it: checks before it writes, adds what is missing, says what git should ignore."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, coord

REPO = Path(__file__).resolve().parents[2]


def files_in(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def test_templates_being_a_file_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / ".mosaic").mkdir()
    (tmp_path / ".mosaic" / "templates").write_text("not a folder")
    for args in (["init", "--template"], ["init", "-l"]):
        result = coord(*args, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            "coord: error: .mosaic/templates: a file where init needs a folder; move or rename it, then run init again"
        ]
        assert "Traceback" not in result.stderr
        assert files_in(tmp_path) == {".mosaic": None, ".mosaic/templates": b"not a folder"}


def test_init_says_what_git_should_ignore_and_adds_it_once(tmp_path: Path) -> None:
    first = coord("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "created .mosaic/mission.yaml",
        "created docs/TASKS.md",
        "created .mosaic/PROTOCOL.md",
        "created docs/MISSION-MANIFEST.md",
        "created docs/scratchpads/my-mission.md",
        "add .mosaic/orchestrator/ to .gitignore: coord's state, locks and logs are not for git",
        "(`mosaic-coord init --gitignore` adds it)",
        "next: edit them, then `mosaic-coord run --print-only` to see the first prompt",
    ]
    (tmp_path / ".gitignore").write_text("__pycache__/")
    for expected in ("added .mosaic/orchestrator/ to .gitignore", ".gitignore already holds .mosaic/orchestrator/"):
        result = coord("init", "--gitignore", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [expected]
        assert (tmp_path / ".gitignore").read_text() == "__pycache__/\n.mosaic/orchestrator/\n"


def test_gitignore_is_created_by_a_first_init(tmp_path: Path) -> None:
    result = coord("init", "--gitignore", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "added .mosaic/orchestrator/ to .gitignore" in result.stdout
    assert (tmp_path / ".gitignore").read_text() == ".mosaic/orchestrator/\n"


def test_template_into_a_mission_made_before(tmp_path: Path) -> None:
    assert coord("init", cwd=tmp_path).returncode == 0
    mission = files_in(tmp_path)
    result = coord("init", "--template", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "created .mosaic/templates/continuation.md.j2"
    template = tmp_path / ".mosaic" / "templates" / "continuation.md.j2"
    assert template.read_text() == (REPO / "templates" / "continuation.md.j2").read_text()
    assert {key: value for key, value in files_in(tmp_path).items() if key in mission} == mission
    again = coord("init", "--template", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        "coord: error: .mosaic/templates/continuation.md.j2 already exists; "
        "mosaic-coord init never overwrites (remove it to start again)"
    ]


def as_a_plain_user() -> list[str]:
    """Root may write anywhere: as root, run coord in a user namespace of its own, without root's powers.

    The new namespace maps no user, so the files stay its caller's own, and the checkout is
    reached wherever it lives (even in a folder only its owner may enter), but no capability
    applies: a folder without its write bit is unwritable there, as for any other user.
    """
    if os.geteuid() != 0:
        return []
    command = ["unshare", "--user"]
    if (
        shutil.which("unshare") is None
        or subprocess.run([*command, "true"], capture_output=True, check=False).returncode != 0
    ):
        pytest.skip("running as root where `unshare --user` cannot start: cannot make a folder unwritable")
    return command


def test_an_unwritable_folder_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    folder, home = tmp_path / "readonly", tmp_path / "home"
    folder.mkdir()
    folder.chmod(0o555)
    home.mkdir()
    result = subprocess.run(
        [*as_a_plain_user(), str(BIN / "mosaic-coord"), "init", "--template", "--gitignore"],
        cwd=folder,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [
        f"coord: error: {folder}: folder is not writable; init writes .mosaic/mission.yaml there"
    ]
    assert files_in(folder) == {}


def test_init_below_a_mission_says_the_new_one_hides_it(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    assert coord("init", cwd=outer).returncode == 0
    inner = outer / "service"
    inner.mkdir()
    result = coord("init", cwd=inner)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        f"coord: note: {outer.resolve() / '.mosaic' / 'mission.yaml'} already holds a mission; "
        "commands run in this folder now use the new one"
    )
    assert coord("init", cwd=outer / "docs").stderr.count("already holds a mission") == 1


def test_every_file_the_first_prompt_names_exists_after_init(tmp_path: Path) -> None:
    """The default prompt stands on its own: no file it points the agent at is missing."""
    assert coord("init", cwd=tmp_path).returncode == 0
    preview = coord("run", "--print-only", cwd=tmp_path)
    assert (preview.returncode, preview.stderr) == (0, "")
    prompt = preview.stdout
    for name in (".mosaic/PROTOCOL.md", "docs/MISSION-MANIFEST.md", "docs/scratchpads/my-mission.md", "docs/TASKS.md"):
        assert f"`{name}`" in prompt
        assert (tmp_path / name).is_file()
    status = coord("status", cwd=tmp_path)
    assert (status.returncode, status.stderr) == (0, "")
    protocol = (tmp_path / ".mosaic" / "PROTOCOL.md").read_text()
    for what in ("quality gates", "status cell", "`done`", "commit", "`docs/scratchpads/my-mission.md`", "Two-phase"):
        assert what in protocol
    manifest = (tmp_path / "docs" / "MISSION-MANIFEST.md").read_text()
    assert manifest.startswith("# My mission: manifest\n")
    assert "- M1: First milestone\n- M2: Second milestone\n" in manifest


def test_init_keeps_a_manifest_the_project_has(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "MISSION-MANIFEST.md").write_text("ours\n")
    result = coord("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created docs/MISSION-MANIFEST.md" not in result.stdout
    assert (tmp_path / "docs" / "MISSION-MANIFEST.md").read_text() == "ours\n"
    assert (tmp_path / ".mosaic" / "PROTOCOL.md").is_file()


def test_status_warns_of_a_file_the_prompt_names_that_is_missing(tmp_path: Path) -> None:
    assert coord("init", cwd=tmp_path).returncode == 0
    (tmp_path / ".mosaic" / "PROTOCOL.md").unlink()
    status = coord("status", cwd=tmp_path)
    assert status.returncode == 0
    assert status.stderr.splitlines() == [
        "coord: warning: the prompt points the agent at .mosaic/PROTOCOL.md, which does not exist yet; "
        "write it, or point mission.yaml's `protocol_file` elsewhere"
    ]
