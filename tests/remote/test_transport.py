"""The remote's compare-and-swap through network faults, on a real bare repository."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from remotekit import PATIENT, Said, git, origin, remote_refs, shared_remote

from mosaic_invoke.remote.transport import Moved, Patience, RemoteFault, Swapped, read_refs, swap

REF = "refs/coord/demo/claims/T-001"


def commit(clone: Path, message: str, parent: str | None = None) -> str:
    tree = git(clone, "mktree")
    return git(clone, "commit-tree", tree, *(("-p", parent) if parent else ()), "-m", message)


def test_a_swap_expecting_absent_creates_the_ref_once(tmp_path: Path) -> None:
    bare, (one, two) = shared_remote(tmp_path, 2)
    first, second = commit(one, "one"), commit(two, "two")
    assert swap(origin(one), REF, None, first, PATIENT, Said()) == Swapped(first)
    assert swap(origin(two), REF, None, second, PATIENT, Said()) == Moved(first)
    assert remote_refs(bare) == {REF: first}


def test_a_swap_expecting_a_value_moves_or_deletes_only_from_it(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    first = commit(one, "one")
    second = commit(one, "two", first)
    swap(origin(one), REF, None, first, PATIENT, Said())
    assert swap(origin(one), REF, second, None, PATIENT, Said()) == Moved(first)
    assert swap(origin(one), REF, first, second, PATIENT, Said()) == Swapped(second)
    assert swap(origin(one), REF, first, None, PATIENT, Said()) == Moved(second)
    assert swap(origin(one), REF, second, None, PATIENT, Said()) == Swapped(None)
    assert remote_refs(bare) == {}


def test_a_remote_unreachable_for_a_while_delays_the_swap_and_it_is_made_once(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    away = tmp_path / "moved.git"
    bare.rename(away)
    said = Said()

    def back_after_two_faults(line: str) -> None:
        said(line)
        if len(said.lines) == 2:  # the remote comes back once the host has been told twice
            away.rename(bare)

    first = commit(one, "one")
    assert swap(origin(one), REF, None, first, PATIENT, back_after_two_faults) == Swapped(first)
    assert len(said.lines) == 2
    assert all(line.startswith(f"remote `origin`: `{REF}` not updated: fatal: ") for line in said.lines)
    assert "trying again in" in said.lines[0]
    assert remote_refs(bare) == {REF: first}
    assert git(bare, "fsck", "--no-progress") == ""


def test_a_remote_that_never_comes_back_is_a_fault_naming_it_and_the_reason(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    bare.rename(tmp_path / "moved.git")
    said = Said()
    with pytest.raises(
        RemoteFault, match=r"remote `origin`: `refs/heads/main` not read after trying for 0.2s: fatal: "
    ):
        read_refs(origin(one), "refs/heads/main", Patience(total=0.2, first=0.05, most=0.05), said)
    assert said.lines  # each retry was said


def test_a_push_whose_answer_is_lost_is_found_made_and_not_made_again(tmp_path: Path) -> None:
    """The remote took the push, then never answered: the host reads the ref, sees its own value."""
    bare, (one,) = shared_remote(tmp_path, 1)
    hook = bare / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nexec sleep 300\n")  # after the ref moved: the answer never comes
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    said = Said()
    first = commit(one, "one")
    hanging = Patience(total=120.0, first=0.05, most=0.5, answer=3.0)
    assert swap(origin(one), REF, None, first, hanging, said) == Swapped(first)
    assert remote_refs(bare) == {REF: first}
    assert not said.lines  # no retry was needed: the remote already held it


def test_a_refusing_remote_is_a_fault_that_says_to_set_claims_ref(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'only branches here' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(RemoteFault, match=r"refused: \[remote rejected\].*set `claims_ref: refs/heads/coord`"):
        swap(origin(one), REF, None, commit(one, "one"), Patience(total=0.1, first=0.05), Said())
    assert remote_refs(bare) == {}
