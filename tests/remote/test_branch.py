"""Landing through the remote: the branch moves only from the base the gates passed on."""

from __future__ import annotations

import stat
from pathlib import Path

from remotekit import PATIENT, Said, git, origin, shared_remote

from mosaic_invoke.remote.branch import fetch_branch, push_branch, tracking_ref
from mosaic_invoke.remote.transport import Moved, Patience, Swapped


def work(clone: Path, name: str, base: str) -> str:
    """A commit on ``base`` adding file ``name``, as a lane's landing commit would be."""
    git(clone, "checkout", "-q", "--detach", base)
    (clone / name).write_text(f"{name}\n")
    git(clone, "add", name)
    git(clone, "commit", "-q", "-m", f"add {name}")
    return git(clone, "rev-parse", "HEAD")


def test_a_landing_pushes_from_the_tested_base_and_a_late_host_is_told_it_moved(tmp_path: Path) -> None:
    bare, (one, two) = shared_remote(tmp_path, 2)
    base = fetch_branch(origin(one), "main", PATIENT, Said())
    assert base is not None and base == fetch_branch(origin(two), "main", PATIENT, Said())
    first, second = work(one, "a.txt", base), work(two, "b.txt", base)
    assert push_branch(origin(one), "main", first, base, PATIENT, Said()) == Swapped(first)
    assert git(one, "rev-parse", tracking_ref(origin(one), "main")) == first
    assert push_branch(origin(two), "main", second, base, PATIENT, Said()) == Moved(first)
    assert git(bare, "rev-parse", "main") == first
    # The late host fetches, rebases and (gates passing) lands on the new base.
    assert fetch_branch(origin(two), "main", PATIENT, Said()) == first
    again = work(two, "b.txt", first)
    assert push_branch(origin(two), "main", again, first, PATIENT, Said()) == Swapped(again)
    assert git(bare, "log", "--format=%s", "main").splitlines() == ["add b.txt", "add a.txt", "start"]


def test_fetching_a_branch_the_remote_lacks_says_so(tmp_path: Path) -> None:
    _, (one,) = shared_remote(tmp_path, 1)
    assert fetch_branch(origin(one), "nowhere", PATIENT, Said()) is None


def test_a_landing_whose_answer_is_lost_lands_once(tmp_path: Path) -> None:
    """The remote took the landing and never answered: the host finds its commit there and does
    not land it again (nor rebase and land a second copy)."""
    bare, (one,) = shared_remote(tmp_path, 1)
    hook = bare / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nexec sleep 300\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    base = fetch_branch(origin(one), "main", PATIENT, Said())
    assert base is not None
    landing = work(one, "a.txt", base)
    hanging = Patience(total=120.0, first=0.05, most=0.5, answer=3.0)
    assert push_branch(origin(one), "main", landing, base, hanging, Said()) == Swapped(landing)
    assert git(bare, "log", "--format=%s", "main").splitlines() == ["add a.txt", "start"]


def test_a_remote_unreachable_while_landing_delays_it_and_it_lands_once(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    base = fetch_branch(origin(one), "main", PATIENT, Said())
    assert base is not None
    landing = work(one, "a.txt", base)
    away = tmp_path / "away.git"
    bare.rename(away)
    said = Said()

    def back_after_a_fault(line: str) -> None:
        said(line)
        away.rename(bare)

    assert push_branch(origin(one), "main", landing, base, PATIENT, back_after_a_fault) == Swapped(landing)
    assert len(said.lines) == 1 and "`refs/heads/main` not updated: fatal: " in said.lines[0]
    assert git(bare, "log", "--format=%s", "main").splitlines() == ["add a.txt", "start"]
    assert git(bare, "fsck", "--no-progress") == ""
