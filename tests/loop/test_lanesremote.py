"""What a loop asks of the shared remote: polls, claims, and a remote that does not answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from remotekit import PATIENT, Said, git, shared_mission, space, tasks_table

from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.loop import lanesremote
from mosaic_invoke.loop.lanes import branch_tasks
from mosaic_invoke.loop.lanesremote import SharedLanes
from mosaic_invoke.remote.claim import Claim
from mosaic_invoke.remote.claims import claim


def shared(clone: Path, said: Said) -> SharedLanes:
    return SharedLanes(load_mission(clone / ".mosaic" / "mission.yaml"), "main", said, lambda: False, brief=True)


def test_a_remote_that_does_not_answer_holds_every_lane_and_the_loop_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lanesremote, "POLL_CEILING", 0.2)  # a poll gives up at once, here
    bare, (one,) = shared_mission(tmp_path, 1, tasks_table(2))
    said = Said()
    lanes = shared(one, said)
    lanes.poll(())
    tasks = branch_tasks(lanes.mission, "main")
    bare.rename(tmp_path / "away.git")
    lanes.poll_soon()
    assert lanes.refresh(()) is False
    assert lanes.refresh(()) is False  # not due yet: still unreachable, said once
    warnings = [line for line in said.lines if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].endswith("; no lane starts until it answers"), said.lines
    assert "does not appear to be a git repository" in warnings[0]
    assert lanes.waiting(tasks, say=False)  # the loop waits rather than stop
    assert lanes.claim_for("T-01", 1) is None
    (tmp_path / "away.git").rename(bare)
    lanes.poll_soon()
    assert lanes.refresh(()) is True
    assert said.lines[-1] == "remote `origin` answers again"
    assert not lanes.waiting(tasks, say=False)
    got = lanes.claim_for("T-01", 1)
    assert isinstance(got, Claim)


def test_a_won_claim_on_a_task_done_on_the_remote_branch_is_released(tmp_path: Path) -> None:
    bare, (one, two) = shared_mission(tmp_path, 2, tasks_table(2))
    said = Said()
    lanes = shared(one, said)
    lanes.poll(())
    text = (two / "docs" / "TASKS.md").read_text().replace("| T-01 | not-started |", "| T-01 | done |")
    (two / "docs" / "TASKS.md").write_text(text)
    git(two, "commit", "-qam", "T-01 done elsewhere")
    git(two, "push", "-q", "origin", "main")
    assert lanes.claim("T-01", 1) is None  # chosen from the branch as polled; done there now
    assert said.lines[-1] == "T-01 is done on origin/main already; claim released"
    assert git(bare, "for-each-ref", "refs/coord") == ""


def test_other_hosts_claims_are_held_elsewhere_until_stale_and_this_clones_are_not(tmp_path: Path) -> None:
    _, (one, two) = shared_mission(tmp_path, 2, tasks_table(3))
    claim(space(two), "T-02", PATIENT, Said(), lane=1)
    lanes = shared(one, Said())
    got = lanes.claim("T-01", 1)
    assert isinstance(got, Claim)
    lanes.poll(["T-01"])
    tasks = branch_tasks(lanes.mission, "main")
    assert lanes.held_elsewhere(tasks) == {"T-02": ()}
    assert lanes.waiting(tasks, say=False)
    assert lanes.claim_for("T-02", 2) is None
