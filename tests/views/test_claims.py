"""Other hosts' claims in `status` (text and JSON) and on the report page (SPEC 16)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import coord
from remotekit import PATIENT, Said, shared_mission, space, tasks_table

from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.remote.board import Board
from mosaic_invoke.remote.claim import Claim
from mosaic_invoke.remote.claims import claim
from mosaic_invoke.remote.sightings import Sightings
from mosaic_invoke.store.liveness import hostname
from mosaic_invoke.views.report.page import write_report


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_status_shows_each_other_hosts_claim_with_its_host_task_and_age(tmp_path: Path) -> None:
    _, (one, two) = shared_mission(tmp_path, 2, tasks_table(2))
    held = claim(space(one), "T-01", PATIENT, Said(), lane=1, session_id="sess-004")
    assert isinstance(held, Claim)
    shown = coord("status", cwd=two)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    at = lines.index("claims   by other hosts (remote origin)")
    assert lines[at + 1].startswith(f"  T-01  {hostname()} lane 1 sess-004, since {held.started_at} (")
    assert lines[at + 1].endswith(", held")
    view = json.loads(coord("status", "--json", cwd=two).stdout)["claims"]
    assert view["remote"] == "origin" and view["live"] is True
    (only,) = view["claims"]
    assert (only["task_id"], only["host"], only["lane"], only["session_id"]) == ("T-01", hostname(), 1, "sess-004")
    assert only["stale"] is False and only["age_seconds"] >= 0
    assert coord("status", cwd=one).stdout.splitlines()[at] == "claims   none by other hosts (remote origin)"


def test_a_claim_this_host_saw_unchanged_for_the_ttl_shows_stale_in_status_and_the_report(tmp_path: Path) -> None:
    _, (one, two) = shared_mission(tmp_path, 2, tasks_table(2), claim_ttl="10m")
    claim(space(one), "T-02", PATIENT, Said(), lane=2, session_id="sess-009")
    clock = Clock()
    board = Board(load_mission(two / ".mosaic" / "mission.yaml"), "main", Said())
    board.sightings = Sightings(600.0, clock)
    board.poll()
    clock.now += 601.0  # ten minutes and more without a renewal, by this host's clock
    board.poll()
    text = coord("status", cwd=two).stdout
    assert "  T-02  " in text and text.rstrip().endswith("stale: may be taken over, unchanged for 10m1s here"), text
    assert json.loads(coord("status", "--json", cwd=two).stdout)["claims"]["claims"][0]["stale"] is True
    page = write_report(two / ".mosaic" / "mission.yaml").read_text()
    section = page[page.index('<section id="claims">') :]
    section = section[: section.index("</section>")]
    assert "<h2>Other hosts</h2>" in section and "<code>origin</code>" in section
    assert '<td class="mono">T-02</td>' in section and f"<td>{hostname()} · lane 2</td>" in section
    assert "<td>stale</td>" in section


def test_status_shows_the_last_poll_when_the_remote_does_not_answer(tmp_path: Path) -> None:
    bare, (one, two) = shared_mission(tmp_path, 2, tasks_table(2))
    claim(space(one), "T-01", PATIENT, Said(), session_id="sess-001")
    Board(load_mission(two / ".mosaic" / "mission.yaml"), "main", Said()).poll()
    bare.rename(tmp_path / "away.git")
    shown = coord("status", cwd=two)
    assert shown.returncode == 0, shown.stderr
    assert "claims   by other hosts (remote origin, as this host last saw them at 20" in shown.stdout
    assert "does not appear to be a git repository" in shown.stdout and "  T-01  " in shown.stdout


def test_a_mission_without_remote_shows_no_claims(tmp_path: Path) -> None:
    _, (one,) = shared_mission(tmp_path, 1, tasks_table(1))
    mission = one / ".mosaic" / "mission.yaml"
    mission.write_text(mission.read_text().replace("remote: origin\n", ""))
    shown = coord("status", "--json", cwd=one)
    assert json.loads(shown.stdout)["claims"] is None
    assert "claims" not in coord("status", cwd=one).stdout
    assert 'id="claims"' not in write_report(mission).read_text()
