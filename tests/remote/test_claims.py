"""Claims across hosts: clones of one bare repository, each standing for a host."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_for
from remotekit import PATIENT, Said, git, remote_refs, shared_remote, space

from mosaic_invoke.remote import claims
from mosaic_invoke.remote.claim import Claim, Taken, ref_part
from mosaic_invoke.remote.claims import claim, read_claims, release, renew, take_over
from mosaic_invoke.remote.sightings import Sightings
from mosaic_invoke.remote.transport import Patience, RemoteFault
from mosaic_invoke.store.liveness import hostname

CLAIMER = Path(__file__).with_name("claimer.py")
REF = "refs/coord/demo/claims/T-001"


def test_one_claim_per_task_and_the_loser_reads_who_holds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that moves at every reading: a new claim's start is its first heartbeat, one reading.
    ticks = itertools.count()
    monkeypatch.setattr(claims, "now_iso", lambda: f"2026-12-05T10:20:52.{next(ticks):03d}Z")
    bare, (one, two) = shared_remote(tmp_path, 2)
    mine = claim(space(one), "T-001", PATIENT, Said(), lane=2, session_id="s-one")
    assert isinstance(mine, Claim)
    assert (mine.host, mine.lane, mine.session_id, mine.checkout) == (hostname(), 2, "s-one", str(one))
    assert mine.started_at == mine.heartbeat
    lost = claim(space(two), "T-001", PATIENT, Said(), lane=1, session_id="s-two")
    assert isinstance(lost, Taken)
    assert lost.by == mine  # read from the commit the clone fetched
    assert remote_refs(bare) == {REF: mine.commit}
    message = git(bare, "log", "-1", "--format=%B", REF)
    assert '"session_id": "s-one"' in message and '"heartbeat": ' in message


def test_renewing_moves_the_value_and_keeps_the_start(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    mine = claim(space(one), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(mine, Claim)
    renewed = renew(space(one), mine, PATIENT, Said())
    assert isinstance(renewed, Claim)
    assert renewed.commit != mine.commit
    assert renewed.started_at == mine.started_at and renewed.session_id == "s-one"
    assert git(bare, "rev-parse", f"{REF}^") == mine.commit  # a child: hosts refusing force pushes take it
    assert remote_refs(bare) == {REF: renewed.commit}
    assert release(space(one), renewed, PATIENT, Said()) is None
    assert remote_refs(bare) == {}


def test_a_claim_taken_over_makes_its_holders_renewal_and_release_fail(tmp_path: Path) -> None:
    bare, (one, two) = shared_remote(tmp_path, 2)
    mine = claim(space(one), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(mine, Claim)
    seen = read_claims(space(two), PATIENT, Said())["T-001"]
    theirs = take_over(space(two), seen, PATIENT, Said(), session_id="s-two")
    assert isinstance(theirs, Claim) and theirs.session_id == "s-two"
    lost = renew(space(one), mine, PATIENT, Said())
    assert isinstance(lost, Taken) and lost.by is not None and lost.by.session_id == "s-two"
    assert release(space(one), mine, PATIENT, Said()) == Taken(theirs)
    assert remote_refs(bare) == {REF: theirs.commit}


def test_a_take_over_fails_when_the_holder_renewed_meanwhile(tmp_path: Path) -> None:
    bare, (one, two) = shared_remote(tmp_path, 2)
    mine = claim(space(one), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(mine, Claim)
    seen = read_claims(space(two), PATIENT, Said())["T-001"]
    renewed = renew(space(one), mine, PATIENT, Said())
    assert isinstance(renewed, Claim)
    assert take_over(space(two), seen, PATIENT, Said(), session_id="s-two") == Taken(renewed)
    assert remote_refs(bare) == {REF: renewed.commit}


def test_read_claims_lists_every_task_of_the_mission_and_no_other(tmp_path: Path) -> None:
    _, (one, two) = shared_remote(tmp_path, 2)
    for task in ("T-001", "T-002"):
        claim(space(one), task, PATIENT, Said(), session_id=f"s-{task}")
    claim(space(one, mission="other"), "T-003", PATIENT, Said())
    found = read_claims(space(two), PATIENT, Said())
    assert sorted(found) == ["T-001", "T-002"]
    assert found["T-002"].session_id == "s-T-002" and found["T-002"].host == hostname()


@pytest.mark.parametrize("task", ["T-001", "a/b", "..x", ".hidden", "x.lock", "with space", "50%", "ü", "a:b~^?*["])
def test_any_task_id_makes_one_valid_ref_component(task: str) -> None:
    part = ref_part(task)
    assert "/" not in part
    assert subprocess.run(["git", "check-ref-format", f"refs/coord/m/claims/{part}"], check=False).returncode == 0


def test_task_ids_that_git_would_refuse_read_back_as_written(tmp_path: Path) -> None:
    _, (one, two) = shared_remote(tmp_path, 2)
    tasks = ["a/b", ".hidden", "x.lock", "50% done"]
    for task in tasks:
        assert isinstance(claim(space(one), task, PATIENT, Said()), Claim)
    assert sorted(read_claims(space(two), PATIENT, Said())) == sorted(tasks)


def test_sixteen_hosts_claiming_one_task_at_once_one_wins(tmp_path: Path) -> None:
    """Sixteen processes, each in a clone of its own, push their claim at the same instant."""
    bare, clones = shared_remote(tmp_path, 16)
    go = tmp_path / "go"
    claimers = [
        subprocess.Popen(
            [sys.executable, str(CLAIMER), str(clone), "T-001", f"s-{number}", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number, clone in enumerate(clones, start=1)
    ]
    go.touch()
    results = [claimer.communicate(timeout=300) for claimer in claimers]
    assert all(claimer.returncode == 0 for claimer in claimers), [err for _, err in results]
    said = [out.split() for out, _ in results]
    winners = [number for number, words in enumerate(said, start=1) if words[0] == "won"]
    assert len(winners) == 1, said
    winner = winners[0]
    assert remote_refs(bare) == {REF: said[winner - 1][1]}
    for words in said:  # every loser names the winner's session
        assert words in (["won", said[winner - 1][1]], ["lost", f"s-{winner}"])


def test_a_stale_claim_is_taken_over_after_a_short_ttl_and_its_holder_learns_it(tmp_path: Path) -> None:
    """Host one holds a claim and renews it; it stops renewing (SIGSTOP, a host gone quiet); host
    two, watching, finds it stale once its own clock saw the value unchanged for the ttl, takes it
    over, and host one, woken, is told at its next renewal."""
    bare, (one, two) = shared_remote(tmp_path, 2)
    go = tmp_path / "go"
    go.touch()
    holder = subprocess.Popen(
        [sys.executable, str(CLAIMER), str(one), "T-001", "s-one", str(go), "--hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("won ")
        watcher = Sightings(ttl=0.5)
        changes: set[str] = set()

        def renewed_twice() -> bool:
            watcher.note(read_claims(space(two), PATIENT, Said()))
            seen = watcher.sighting("T-001")
            assert seen is not None
            changes.add(seen.claim.commit)
            return len(changes) >= 3

        wait_for(renewed_twice, timeout=60)  # while it renews, its value keeps changing
        holder.send_signal(19)  # SIGSTOP: it holds the claim and renews no more
        try:

            def stale() -> bool:
                watcher.note(read_claims(space(two), PATIENT, Said()))
                return watcher.stale("T-001")

            wait_for(stale, timeout=60)
            seen = watcher.sighting("T-001")
            assert seen is not None and seen.claim.session_id == "s-one"
            theirs = take_over(space(two), seen.claim, PATIENT, Said(), session_id="s-two")
            assert isinstance(theirs, Claim)
        finally:
            holder.send_signal(18)  # SIGCONT
        out, err = holder.communicate(timeout=120)
        assert out.strip() == "taken s-two", err
        assert remote_refs(bare) == {REF: theirs.commit}
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_remote_unreachable_for_a_while_delays_a_claim_and_does_not_corrupt(tmp_path: Path) -> None:
    """The remote's folder is renamed: the claiming host says it retries, waits, and once the
    remote is back has exactly one claim there; the other host then loses to it."""
    bare, (one, two) = shared_remote(tmp_path, 2)
    away = tmp_path / "away.git"
    bare.rename(away)
    go = tmp_path / "go"
    go.touch()
    claimer = subprocess.Popen(
        [sys.executable, str(CLAIMER), str(one), "T-001", "s-one", str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert claimer.stderr is not None
        first = claimer.stderr.readline()
        assert first.startswith("remote `origin`: `refs/coord/demo/claims/T-001` not updated: fatal: "), first
        assert claimer.poll() is None  # still trying
        away.rename(bare)
        out, _ = claimer.communicate(timeout=120)
    finally:
        if claimer.poll() is None:
            claimer.kill()
            claimer.wait()
    won = out.split()
    assert won[0] == "won"
    assert remote_refs(bare) == {REF: won[1]}
    assert git(bare, "fsck", "--no-progress") == ""
    lost = claim(space(two), "T-001", PATIENT, Said(), session_id="s-two")
    assert isinstance(lost, Taken) and lost.by is not None and lost.by.session_id == "s-one"


def test_a_host_that_takes_branches_only_takes_claims_under_claims_ref_refs_heads(tmp_path: Path) -> None:
    """A remote whose hook refuses every ref outside refs/heads/: the claim fails saying to set
    `claims_ref`; with `claims_ref: refs/heads/coord` the claims are branches, and work."""
    bare, (one, two) = shared_remote(tmp_path, 2)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do case $ref in refs/heads/*) ;; *) echo branches only >&2; exit 1;; esac; done\n"
    )
    hook.chmod(0o755)
    with pytest.raises(RemoteFault, match=r"set `claims_ref: refs/heads/coord` in mission.yaml"):
        claim(space(one), "T-001", Patience(total=0.2, first=0.05), Said())
    mine = claim(space(one, claims_ref="refs/heads/coord"), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(mine, Claim)
    assert remote_refs(bare, "refs/heads/coord") == {"refs/heads/coord/demo/claims/T-001": mine.commit}
    lost = claim(space(two, claims_ref="refs/heads/coord"), "T-001", PATIENT, Said())
    assert isinstance(lost, Taken) and lost.by == mine
    assert release(space(one, claims_ref="refs/heads/coord"), mine, PATIENT, Said()) is None
    assert remote_refs(bare, "refs/heads/coord") == {}
