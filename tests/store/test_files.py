"""store.files: coord's own files private, never written through a link; temp files of the killed removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import open_private, remove_stale_temps, write_atomic, write_private
from mosaic_invoke.store.liveness import process_start_time


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the project that a planted link aims at."""
    path = tmp_path / "outside" / ".bashrc"
    path.parent.mkdir()
    path.write_text("the user's own\n")
    path.chmod(0o644)
    return path


def test_a_private_write_replaces_a_planted_link_and_is_0600_in_a_0700_folder(tmp_path: Path, victim: Path) -> None:
    path = tmp_path / "orch" / "logs" / "sess-001.prompt.md"
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    write_private(path, b"the prompt")
    assert victim.read_text() == "the user's own\n"
    assert not path.is_symlink()
    assert path.read_bytes() == b"the prompt"
    assert path.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "made" / "by" / "coord" / "state.json"
    write_private(fresh, b"{}")
    assert fresh.parent.stat().st_mode & 0o777 == 0o700
    assert fresh.stat().st_mode & 0o777 == 0o600


def test_a_users_file_is_still_written_through_its_link(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "TASKS.md"
    link.symlink_to(victim)
    write_atomic(link, b"tasks")
    assert link.is_symlink()
    assert victim.read_bytes() == b"tasks"
    assert victim.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("append", [True, False], ids=["append", "write"])
def test_a_log_opened_where_a_link_was_planted_replaces_it(tmp_path: Path, victim: Path, *, append: bool) -> None:
    path = tmp_path / "logs" / "sess-001.log"
    path.parent.mkdir()
    path.symlink_to(victim)
    with open_private(path, append=append) as log:
        log.write(b"agent output\n")
    assert victim.read_text() == "the user's own\n"
    assert not path.is_symlink()
    assert path.read_bytes() == b"agent output\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_log_opened_where_a_pipe_was_planted_neither_waits_nor_writes_to_it(tmp_path: Path) -> None:
    path = tmp_path / "sess-001.log"
    os.mkfifo(path)
    with open_private(path) as log:  # opening a pipe no one reads would wait forever
        log.write(b"x")
    assert path.is_file()
    assert path.read_bytes() == b"x"


def test_an_existing_log_is_appended_to_and_made_private(tmp_path: Path) -> None:
    path = tmp_path / "sess-001.log"
    path.write_bytes(b"before\n")
    path.chmod(0o644)
    with open_private(path) as log:
        log.write(b"after\n")
    assert path.read_bytes() == b"before\nafter\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_folder_where_a_log_should_be_is_an_error_not_a_loss(tmp_path: Path) -> None:
    path = tmp_path / "sess-001.log"
    (path / "kept").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        open_private(path)
    assert (path / "kept").is_dir()
    with pytest.raises(CoordError, match=r"sess-001\.log: cannot write"):
        write_private(path, b"x")


def test_stale_temp_files_of_killed_writers_are_removed_and_no_others(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live_start = process_start_time(live.pid)
        names = {
            f".state.json.{dead_pid}-1.abcdefgh.tmp": False,  # its writer is gone
            f".state.json.{live.pid}-{live_start}.k2j3h4g5.tmp": True,  # its writer still writes
            f".state.json.{live.pid}-{(live_start or 0) + 1}.zzzzzzzz.tmp": False,  # that pid is another process now
            f".TASKS.md.{os.getpid()}-{process_start_time(os.getpid())}.q1w2e3r4.tmp": True,  # this process's own
            ".TASKS.md.oldstyle.tmp": True,  # an older coord's, fresh: it may be writing
            ".TASKS.md.oldstale.tmp": False,  # an older coord's, an hour old
            ".notes.md.swp": True,  # an editor's
            "state.json.tmp": True,  # not a name coord gives
        }
        for name in names:
            (tmp_path / name).write_text("partial")
        an_hour_ago = time.time() - 3700
        os.utime(tmp_path / ".TASKS.md.oldstale.tmp", (an_hour_ago, an_hour_ago))
        remove_stale_temps(tmp_path)
        assert {name: (tmp_path / name).exists() for name in names} == names
    finally:
        live.kill()
        live.wait()


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    left = tmp_path / ".TASKS.md.999999999-5.abcdefgh.tmp"
    left.write_text("half a tasks file")
    write_atomic(tmp_path / "TASKS.md", b"| id | status |\n")
    assert not left.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["TASKS.md"]
