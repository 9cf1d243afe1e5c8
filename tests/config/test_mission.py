from __future__ import annotations

from pathlib import Path

import pytest

from mosaic_invoke.config.gates import Review
from mosaic_invoke.config.locate import find_mission_file, locate_mission
from mosaic_invoke.config.mission import Hooks, MilestoneStatus, Verify, load_mission
from mosaic_invoke.config.remote import RemoteConfig
from mosaic_invoke.errors import CoordError


def write_mission(root: Path, text: str) -> Path:
    path = root / ".mosaic" / "mission.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(CoordError) as info:
        load_mission(path)
    return info.value.problems


def test_defaults_for_a_minimal_mission(tmp_path: Path) -> None:
    mission = load_mission(write_mission(tmp_path, "id: auth\nname: Auth rewrite\n"))
    assert mission.root == tmp_path
    assert mission.orchestrator_dir == ".mosaic/orchestrator"
    assert mission.tasks_file == "docs/TASKS.md"
    assert mission.manifest_file == "docs/MISSION-MANIFEST.md"
    assert mission.scratchpad_file == "docs/scratchpads/auth.md"
    assert mission.protocol_file == "~/.config/mosaic/guides/ORCHESTRATOR.md"
    assert mission.quality_gates is None
    assert mission.runtime is None
    assert mission.template is None
    assert dict(mission.runtimes) == {}
    assert dict(mission.vars) == {}
    assert mission.milestones == ()
    assert mission.orchestrator_path == tmp_path / ".mosaic" / "orchestrator"
    assert mission.tasks_path == tmp_path / "docs" / "TASKS.md"


def test_every_field(tmp_path: Path) -> None:
    text = """\
id: auth-rewrite                 # required
name: Auth rewrite
orchestrator_dir: /var/tmp/orch
tasks_file: plan/TASKS.md
manifest_file: plan/MANIFEST.md
scratchpad_file: plan/pad.md
protocol_file: ~/proto.md
quality_gates: make lint test
runtime: codex
template: .mosaic/t.md.j2
runtimes:
  aider: [aider, --yes, --message, "{prompt}"]
  shellish: "my-agent --prompt {prompt}"
vars: {team: payments, size: 3}
milestones:
  - {id: M1, name: Foundations}
  - {id: M2, name: API, status: in-progress}
"""
    mission = load_mission(write_mission(tmp_path, text))
    assert mission.orchestrator_path == Path("/var/tmp/orch")
    assert mission.tasks_path == tmp_path / "plan" / "TASKS.md"
    assert mission.quality_gates == "make lint test"
    assert mission.runtime == "codex"
    assert mission.runtimes["aider"].command == ("aider", "--yes", "--message", "{prompt}")
    assert mission.runtimes["shellish"].command == ("my-agent", "--prompt", "{prompt}")
    assert mission.vars == {"team": "payments", "size": 3}
    assert [m.id for m in mission.milestones] == ["M1", "M2"]
    assert mission.milestones[0].status is None
    assert mission.milestones[1].status is MilestoneStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name: X\n", ":1: `id`: required", id="missing-id"),
        pytest.param("id: x\nname:\n", ":2: `name`: required; give a value", id="empty-name"),
        pytest.param("id: 010\nname: X\n", ":1: `id`: must be a string, not int; quote it", id="yaml11-octal"),
        pytest.param("id: x\nname: no\n", ":2: `name`: must be a string, not bool; quote it", id="yaml11-no"),
        pytest.param(
            "id: x\nname: X\nmilestones:\n  - {id: M1, name: A}\n  - {name: B}\n",
            ":5: `milestones[1].id`: required",
            id="milestone-id",
        ),
        pytest.param(
            "id: x\nname: X\nmilestones:\n  - {id: M1, name: A, status: started}\n",
            ":4: `milestones[0].status`: unknown status 'started'; use one of pending, in-progress, done",
            id="milestone-status",
        ),
        pytest.param(
            "id: x\nname: X\nmilestones:\n  - {id: M1, name: A}\n  - {id: M1, name: B}\n",
            ":5: `milestones[1].id`: duplicate milestone id 'M1' (first on line 4)",
            id="duplicate-milestone",
        ),
        pytest.param("id: x\nname: X\nmilestones: M1\n", ":3: `milestones`: expected a list", id="milestones-type"),
        pytest.param("id: x\nname: X\nid: y\n", ":3: `id`: duplicate key (first set on line 1)", id="duplicate-key"),
        pytest.param("id: x\nname: X\nruntimes:\n  a: 3\n", ":4: `runtimes.a`: must be a command", id="runtime-type"),
        pytest.param("id: x\nname: X\nvars: [1]\n", ":3: `vars`: expected a mapping", id="vars-type"),
        pytest.param("- id: x\n", ":1: `mission`: expected a mapping", id="not-a-mapping"),
        pytest.param("", ":1: `mission`: expected a mapping", id="empty-file"),
    ],
)
def test_validation_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write_mission(tmp_path, text))
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith(str(tmp_path / ".mosaic" / "mission.yaml")) for problem in found)


def test_unknown_key_says_did_you_mean(tmp_path: Path) -> None:
    (problem,) = problems(write_mission(tmp_path, "id: x\nname: X\nquality_gate: make\n"))
    assert problem.endswith(":3: `quality_gate`: unknown key; did you mean `quality_gates`?")


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    (problem,) = problems(write_mission(tmp_path, "id: x\nname: X\nzzz: 1\n"))
    assert "`zzz`: unknown key; known keys: id, name," in problem


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = "name: 5\nqualty_gates: x\nmilestones:\n  - {id: M1}\nloop: {pause: -1}\n"
    found = problems(write_mission(tmp_path, text))
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in found] == ["1", "1", "2", "4", "5"]


def test_paths_are_relative_to_the_current_folder_when_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_mission(tmp_path, "name: X\n")
    monkeypatch.chdir(tmp_path)
    assert problems(path) == (".mosaic/mission.yaml:1: `id`: required",)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    (problem,) = problems(write_mission(tmp_path, "id: x\nname: [unclosed\nruntime: claude\n"))
    assert problem.startswith(f"{tmp_path / '.mosaic' / 'mission.yaml'}:3:")
    assert "invalid YAML" in problem


def test_binary_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ".mosaic" / "mission.yaml"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xfe\x00garbage")
    (problem,) = problems(path)
    assert "is not UTF-8" in problem


def test_root_is_found_from_a_subfolder(tmp_path: Path) -> None:
    write_mission(tmp_path, "id: x\nname: X\n")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_mission_file(deep) == tmp_path / ".mosaic" / "mission.yaml"
    assert load_mission(locate_mission(None, deep)).root == tmp_path


def test_no_mission_above_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CoordError, match=r"no \.mosaic/mission\.yaml in .* run `invoke coord\.init`"):
        find_mission_file(tmp_path)


def test_explicit_mission_as_file_or_folder(tmp_path: Path) -> None:
    path = write_mission(tmp_path / "elsewhere", "id: x\nname: X\n")
    assert locate_mission(str(path), tmp_path) == path
    assert locate_mission("elsewhere", tmp_path) == path
    with pytest.raises(CoordError, match="mission file not found"):
        locate_mission("nowhere", tmp_path)


def test_a_mission_file_outside_dot_mosaic_has_its_folder_as_root(tmp_path: Path) -> None:
    path = tmp_path / "mission.yaml"
    path.write_text("id: x\nname: X\n")
    assert load_mission(path).root == tmp_path


def test_a_control_character_is_a_one_line_error_with_its_line(tmp_path: Path) -> None:
    (problem,) = problems(write_mission(tmp_path, "id: x\nname: X\x00\n"))
    assert (
        problem
        == f"{tmp_path / '.mosaic' / 'mission.yaml'}:2: invalid YAML: character '\\x00' is not allowed; remove it"
    )


def test_defaults_of_the_keys_for_verification_hooks_and_loops(tmp_path: Path) -> None:
    mission = load_mission(write_mission(tmp_path, "id: x\nname: X\n"))
    assert mission.permissions == "workspace"
    assert mission.verify is None
    assert mission.hooks == Hooks()
    assert dict(mission.loop) == {}


def test_permissions_verify_hooks_and_loop(tmp_path: Path) -> None:
    text = """\
id: x
name: X
permissions: read-only
verify: {command: make test, timeout: 1h30m, require_change: true}
hooks: {after_session: invoke notify, after_loop: "echo done"}
loop:
  max_sessions: 50
  max_hours: 8
  max_failures: none
  max_attempts: 2
  max_cost_usd: 12.5
  session_timeout: 45m
  idle_timeout: 600
  pause: 30s
  backoff: 0
  max_wait: 2h
  report: false
"""
    mission = load_mission(write_mission(tmp_path, text))
    assert mission.permissions == "read-only"
    assert mission.verify == Verify(command="make test", timeout=5400.0, require_change=True)
    assert mission.hooks == Hooks(after_session="invoke notify", after_loop="echo done")
    assert dict(mission.loop) == {
        "max_sessions": 50,
        "max_hours": 8 * 3600.0,
        "max_failures": None,
        "max_attempts": 2,
        "max_cost_usd": 12.5,
        "session_timeout": 2700.0,
        "idle_timeout": 600.0,
        "pause": 30.0,
        "backoff": 0.0,
        "max_wait": 7200.0,
        "report": False,
    }


def test_verify_quality_gates_runs_the_quality_gates_string(tmp_path: Path) -> None:
    mission = load_mission(
        write_mission(tmp_path, "id: x\nname: X\nquality_gates: make lint test\nverify: quality_gates\n")
    )
    assert mission.verify == Verify(command="make lint test", timeout=1800.0, require_change=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "permissions: admin\n",
            ":3: `permissions`: unknown value 'admin'; use one of read-only, workspace, full",
            id="permissions",
        ),
        pytest.param(
            "verify: quality_gates\n",
            ":3: `verify`: `quality_gates` is not set; set it, or give {command: ...}",
            id="verify-no-gates",
        ),
        pytest.param(
            "verify: make test\n",
            ":3: `verify`: expected `quality_gates` or a mapping, e.g. {command: make test}",
            id="verify-string",
        ),
        pytest.param("verify: {timeout: 5m}\n", ":3: `verify.command`: required", id="verify-command"),
        pytest.param(
            "verify:\n  command: make\n  timeout: soon\n",
            ":5: `verify.timeout`: expected a duration more than 0, e.g. 30m",
            id="verify-timeout",
        ),
        pytest.param(
            "verify: {command: make, timeout: 0}\n",
            ":3: `verify.timeout`: expected a duration more than 0",
            id="verify-timeout-zero",
        ),
        pytest.param(
            "verify: {command: make, timeout: .inf}\n",
            ":3: `verify.timeout`: expected a duration more than 0",
            id="verify-timeout-infinite",
        ),
        pytest.param(
            "verify: {command: make, require_change: maybe}\n",
            ":3: `verify.require_change`: must be true or false",
            id="verify-bool",
        ),
        pytest.param(
            "verify: {comand: make}\n", ":3: `verify.comand`: unknown key; did you mean `command`?", id="verify-typo"
        ),
        pytest.param(
            "hooks: {after_sesion: x}\n",
            ":3: `hooks.after_sesion`: unknown key; did you mean `after_session`?",
            id="hooks-typo",
        ),
        pytest.param(
            "hooks: {after_loop: [a, b]}\n",
            ":3: `hooks.after_loop`: must be a string, not list; quote it",
            id="hooks-type",
        ),
        pytest.param("hooks: notify\n", ":3: `hooks`: expected a mapping", id="hooks-mapping"),
        pytest.param("loop: 5\n", ":3: `loop`: expected a mapping", id="loop-mapping"),
        pytest.param(
            "loop:\n  max_hour: 8\n", ":4: `loop.max_hour`: unknown key; did you mean `max_hours`?", id="loop-typo"
        ),
        pytest.param(
            "loop:\n  max_sessions: 0\n",
            ":4: `loop.max_sessions`: expected a whole number of 1 or more, or `none` for no limit; got `0`",
            id="zero-sessions",
        ),
        pytest.param(
            "loop:\n  max_failures: 2.5\n",
            ":4: `loop.max_failures`: expected a whole number of 1 or more",
            id="fraction",
        ),
        pytest.param(
            "loop:\n  max_hours: -1\n", ":4: `loop.max_hours`: must not be negative; got `-1`", id="negative-hours"
        ),
        pytest.param(
            "loop:\n  max_hours: 0\n",
            ":4: `loop.max_hours`: a time must be more than 0; write `none` for no limit",
            id="zero-hours",
        ),
        pytest.param(
            "loop:\n  max_cost_usd: lots\n", ":4: `loop.max_cost_usd`: expected an amount in US dollars", id="cost"
        ),
        pytest.param(
            "loop:\n  session_timeout: 10 minutes\n",
            ":4: `loop.session_timeout`: expected a duration such as 90s, 45m, 8h or 1h30m",
            id="duration",
        ),
        pytest.param("loop:\n  pause: -5s\n", ":4: `loop.pause`: expected a duration", id="negative-pause"),
        pytest.param("loop:\n  report: sometimes\n", ":4: `loop.report`: expected true or false", id="report"),
        pytest.param("loop:\n  max_wait: .inf\n", ":4: `loop.max_wait`: expected a finite number", id="infinite"),
        pytest.param(
            "verify:\n  review: {runtme: codex}\n",
            ":4: `verify.review.runtme`: unknown key; did you mean `runtime`?",
            id="review-typo",
        ),
        pytest.param(
            "verify:\n  review:\n    timeout: never\n",
            ":5: `verify.review.timeout`: expected a duration more than 0, e.g. 30m",
            id="review-timeout",
        ),
        pytest.param("verify: {review: codex}\n", ":3: `verify.review`: expected a mapping", id="review-mapping"),
        pytest.param(
            "runtime_fallback: codex\n",
            ":3: `runtime_fallback`: expected a list of runtime names, e.g. [claude, codex]",
            id="fallback-list",
        ),
        pytest.param(
            "runtime_fallback: [codex, claude, codex]\n",
            ":3: `runtime_fallback`: `codex` is listed twice; list each runtime once",
            id="fallback-twice",
        ),
    ],
)
def test_new_keys_are_checked_at_their_line(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write_mission(tmp_path, "id: x\nname: X\n" + text))
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("gates", "expected"),
    [
        pytest.param("false", [":3: `quality_gates`: must be a string, not bool; quote it"], id="wrong-type-once"),
        pytest.param('""', [":4: `verify`: `quality_gates` is not set; set it, or give {command: ...}"], id="empty"),
    ],
)
def test_verify_quality_gates_with_unusable_gates_is_one_problem(
    tmp_path: Path, gates: str, expected: list[str]
) -> None:
    """A `quality_gates` of the wrong type is reported for itself, not again as missing."""
    found = problems(write_mission(tmp_path, f"id: x\nname: X\nquality_gates: {gates}\nverify: quality_gates\n"))
    assert [problem.split("mission.yaml", 1)[1] for problem in found] == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("tasks_file", "docs\\TASKS.md", "`docs\\TASKS.md` has a backslash; write paths with /, as in docs/TASKS.md"),
        ("orchestrator_dir", "C:\\mosaic\\orch", "`C:\\mosaic\\orch` is a Windows path; write a path relative"),
        ("orchestrator_dir", "D:/orch", "`D:/orch` is a Windows path"),
        ("manifest_file", "docs\\M.md", "has a backslash"),
        ("scratchpad_file", "pad\\x.md", "has a backslash"),
        ("protocol_file", "~\\guides\\O.md", "has a backslash"),
        ("template", ".mosaic\\t.md.j2", "has a backslash"),
    ],
)
def test_windows_style_paths_are_an_error_at_their_line(tmp_path: Path, key: str, value: str, expected: str) -> None:
    (problem,) = problems(write_mission(tmp_path, f"id: x\nname: X\n{key}: {value}\n"))
    assert problem.startswith(f"{tmp_path / '.mosaic' / 'mission.yaml'}:3: `{key}`: ")
    assert expected in problem


def test_the_remote_keys_and_their_defaults(tmp_path: Path) -> None:
    assert load_mission(write_mission(tmp_path, "id: x\nname: X\n")).remote is None
    mission = load_mission(write_mission(tmp_path, "id: x\nname: X\nremote: origin\n"))
    assert mission.remote == RemoteConfig(name="origin", claim_ttl=600.0, claims_ref="refs/coord")
    text = "id: x\nname: X\nremote: shared\nclaim_ttl: 90s\nclaims_ref: refs/heads/coord\n"
    mission = load_mission(write_mission(tmp_path, text))
    assert mission.remote == RemoteConfig(name="shared", claim_ttl=90.0, claims_ref="refs/heads/coord")
    assert mission.remote.heartbeat == 30.0
    # Without `remote`, nothing of it runs: the other two are read and left alone.
    assert load_mission(write_mission(tmp_path, "id: x\nname: X\nclaim_ttl: 1m\n")).remote is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("remot: origin\n", ":3: `remot`: unknown key; did you mean `remote`?", id="remote-typo"),
        pytest.param("claim_tll: 5m\n", ":3: `claim_tll`: unknown key; did you mean `claim_ttl`?", id="ttl-typo"),
        pytest.param("remote: [origin]\n", ":3: `remote`: must be a string, not list; quote it", id="remote-type"),
        pytest.param(
            "remote: git@host:x.git\n",
            ":3: `remote`: 'git@host:x.git' is not a git remote's name; write one, e.g. origin",
            id="remote-url",
        ),
        pytest.param(
            "remote: origin\nclaim_ttl: 0\n", ":4: `claim_ttl`: expected a duration more than 0, e.g. 10m", id="ttl-0"
        ),
        pytest.param(
            "remote: origin\nclaim_ttl: soon\n", ":4: `claim_ttl`: expected a duration more than 0", id="ttl-text"
        ),
        pytest.param(
            "remote: origin\nclaims_ref: coord\n",
            ":4: `claims_ref`: 'coord' is not a ref folder; write one under refs/, e.g. refs/coord",
            id="ref-outside-refs",
        ),
        pytest.param(
            "remote: origin\nclaims_ref: refs/co..rd\n",
            ":4: `claims_ref`: 'refs/co..rd' is not a ref folder",
            id="dots",
        ),
        pytest.param(
            "remote: origin\nclaims_ref: refs/coord/\n",
            ":4: `claims_ref`: 'refs/coord/' is not a ref folder",
            id="slash",
        ),
    ],
)
def test_the_remote_keys_are_checked_at_their_line(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write_mission(tmp_path, "id: x\nname: X\n" + text))
    assert any(expected in problem for problem in found), found


def test_verify_review_with_and_without_gates(tmp_path: Path) -> None:
    text = (
        "id: x\nname: X\nverify:\n  command: make test\n  review: {runtime: codex, template: t/r.md.j2, timeout: 5m}\n"
    )
    mission = load_mission(write_mission(tmp_path, text))
    assert mission.verify == Verify(command="make test")
    assert mission.review == Review(runtime="codex", template="t/r.md.j2", timeout=300.0)
    alone = load_mission(write_mission(tmp_path, "id: x\nname: X\nverify: {review: true}\n"))
    assert (alone.verify, alone.review) == (None, Review(runtime=None, template=None, timeout=600.0))
    off = load_mission(write_mission(tmp_path, "id: x\nname: X\nverify: {command: make, review: false}\n"))
    assert off.review is None
    fallback = load_mission(write_mission(tmp_path, "id: x\nname: X\nruntime_fallback: [claude, codex]\n"))
    assert fallback.runtime_fallback == ("claude", "codex")
