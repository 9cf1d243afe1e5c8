"""A held claim renewed in the background while its session runs, and lost to a take-over."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_for
from remotekit import PATIENT, Said, remote_refs, shared_remote, space

from mosaic_invoke.remote.claim import Claim, Taken
from mosaic_invoke.remote.claims import claim, read_claims, release, renew, take_over
from mosaic_invoke.remote.heartbeat import Heartbeat

REF = "refs/coord/demo/claims/T-001"


def test_a_heartbeat_renews_until_released_and_leaves_no_ref(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    held = claim(space(one), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(held, Claim)
    values = set()
    with Heartbeat(space(one), held, 0.05, PATIENT, Said()) as beat:

        def renewed_twice() -> bool:
            values.update(remote_refs(bare).values())
            return len(values) >= 3

        wait_for(renewed_twice, timeout=60)
        assert beat.lost is None and beat.held.started_at == held.started_at
        assert beat.release(PATIENT) is None
    assert remote_refs(bare) == {}


def test_a_claim_taken_over_is_seen_lost_at_the_next_beat(tmp_path: Path) -> None:
    bare, (one, two) = shared_remote(tmp_path, 2)
    held = claim(space(one), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(held, Claim)
    beat = Heartbeat(space(one), held, 0.05, PATIENT, Said())
    with beat:
        seen = read_claims(space(two), PATIENT, Said())["T-001"]

        def taken() -> bool:
            nonlocal seen
            got = take_over(space(two), seen, PATIENT, Said(), session_id="s-two")
            if isinstance(got, Taken):  # renewed meanwhile: what it holds now
                assert got.by is not None
                seen = got.by
                return False
            return True

        wait_for(taken, timeout=60)
        wait_for(lambda: beat.lost is not None, timeout=60)
    lost = beat.lost
    assert lost is not None and lost.by is not None and lost.by.session_id == "s-two"
    assert beat.release(PATIENT) == lost
    assert [ref for ref in remote_refs(bare)] == [REF]  # the taker's claim stays


def test_a_release_after_a_renewal_whose_answer_never_came_still_deletes_the_claim(tmp_path: Path) -> None:
    bare, (one,) = shared_remote(tmp_path, 1)
    held = claim(space(one), "T-001", PATIENT, Said(), session_id="s-one")
    assert isinstance(held, Claim)
    assert isinstance(renew(space(one), held, PATIENT, Said()), Claim)  # as if its answer were lost
    assert release(space(one), held, PATIENT, Said()) is None
    assert remote_refs(bare) == {}
    again = claim(space(one), "T-001", PATIENT, Said(), session_id="s-two")
    assert isinstance(again, Claim)
    assert isinstance(renew(space(one), again, PATIENT, Said()), Claim)
    renewed = renew(space(one), again, PATIENT, Said(), session_id="s-three")
    assert isinstance(renewed, Claim) and renewed.session_id == "s-three"
