"""The reference pages in docs/ say what the code does: their examples, flags, fields, exit codes
and schemas are checked here against the real program, verbatim."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BIN, coord
from remotekit import PATIENT, Said, shared_mission, space, tasks_table

from mosaic_invoke.agents.runtimes import OUTPUTS, PERMISSIONS, PLACEHOLDERS, resolve_runtime
from mosaic_invoke.config.caps import CAP_KEYS, LoopCaps, read_cap
from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.config.settings import _FLAGS as CAP_FLAGS
from mosaic_invoke.config.settings import loop_caps, read_settings
from mosaic_invoke.loop.loop import EXIT_CODES, exit_code
from mosaic_invoke.loop.policy import STOP_REASONS
from mosaic_invoke.program import make_program
from mosaic_invoke.remote.claims import claim
from mosaic_invoke.session.prompt import build_context, capsule, render
from mosaic_invoke.session.review import Claim, review_prompt, reviewer_runtime
from mosaic_invoke.store.journal import read_journal
from mosaic_invoke.store.layout import HEAD_KEYS as _HEAD_KEYS
from mosaic_invoke.store.liveness import hostname, process_start_time
from mosaic_invoke.store.locks import SessionLock, write_session_lock
from mosaic_invoke.store.loopfile import LoopRecord, write_loop
from mosaic_invoke.store.session import VERDICTS, Session
from mosaic_invoke.store.state import State, save_state
from mosaic_invoke.tasks.acceptance import criteria
from mosaic_invoke.tasks.selection import Progress
from mosaic_invoke.tasks.tasksfile import TaskStatus
from mosaic_invoke.tasks.tasksfile import load as load_tasks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = (
    *("commands.md", "files.md", "prompt.md", "loop.md", "agents.md", "mission-yaml.md", "remote.md"),
    *("guarantees.md", "performance.md"),
)
COMMANDS = ("run", "resume", "loop", "stop", "status", "logs", "report", "init")
MISSION_MARK = "# .mosaic/mission.yaml"
INVOKE_MARK = "# invoke.yaml"
SHOWN_ROOT = "/srv/app"
"""The project path as the pages show it."""
SESSION_FIELDS = {f.name for f in fields(Session)} - {"extra"}


def page(name: str) -> str:
    return (DOCS / name).read_text()


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``text``, each without its fences."""
    return re.findall(rf"^```{re.escape(language)}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line), up to the next heading of its level or above."""
    level = len(heading.split(" ", 1)[0])
    lines = text.splitlines(keepends=True)
    start = lines.index(heading + "\n") + 1
    fenced = False
    for end in range(start, len(lines)):
        fenced ^= lines[end].startswith("```")
        hashes = lines[end].split(" ", 1)[0]
        if not fenced and hashes and set(hashes) == {"#"} and len(hashes) <= level:
            return "".join(lines[start:end])
    return "".join(lines[start:])


def tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of ``text`` outside code blocks: its rows (header first), cells stripped."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(cell) <= set("-:") for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def table(text: str, heading: str | None = None) -> list[list[str]]:
    """The rows (header left out) of the first table under ``heading`` (or in ``text``)."""
    return tables(section(text, heading) if heading else text)[0][1:]


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def first_names(rows: list[list[str]], prefix: str = "") -> list[str]:
    """The backticked name in each row's first cell, less ``prefix``."""
    return [ticked(row[0])[0].removeprefix(prefix) for row in rows]


def test_every_page_opens_with_a_paragraph_saying_what_it_covers() -> None:
    for name in PAGES:
        lines = page(name).splitlines()
        assert lines[0].startswith("# "), name
        assert lines[1] == "", name
        assert lines[2].startswith("This page covers "), name


# Examples: mission.yaml, invoke.yaml, JSON.


def yaml_examples() -> Iterator[Any]:
    for name in PAGES:
        for number, block in enumerate(blocks(page(name), "yaml")):
            yield pytest.param(block, id=f"{name}-{number}")


@pytest.mark.parametrize("block", list(yaml_examples()))
def test_every_yaml_example_is_a_mission_or_invoke_yaml_that_coord_reads(block: str, tmp_path: Path) -> None:
    first = block.splitlines()[0]
    if first == INVOKE_MARK:
        settings = read_settings(yaml.safe_load(block), environ={})
        assert settings.loop
        loop_caps({}, settings, {})
        return
    assert first == MISSION_MARK, "mark each yaml example with the file it belongs in"
    config = tmp_path / ".mosaic" / "mission.yaml"
    config.parent.mkdir()
    config.write_text(block)
    mission = load_mission(config)
    assert mission.root == tmp_path
    assert yaml.safe_load(block)["id"] == mission.id


def test_the_merge_key_example_gives_the_milestones_its_comments_say(tmp_path: Path) -> None:
    (block,) = [b for b in blocks(page("mission-yaml.md"), "yaml") if "<<:" in b]
    config = tmp_path / ".mosaic" / "mission.yaml"
    config.parent.mkdir()
    config.write_text(block)
    said = [line.split("# ")[1].split(", ") for line in block.splitlines() if "<<:" in line]
    milestones = load_mission(config).milestones[1:]
    assert [[m.id, m.name, m.status.value if m.status else ""] for m in milestones] == said


def test_the_pages_that_show_mission_yaml_examples_have_them() -> None:
    for name in ("mission-yaml.md", "loop.md", "agents.md", "prompt.md"):
        assert any(b.startswith(MISSION_MARK) for b in blocks(page(name), "yaml")), name


def test_the_claude_settings_example_is_json_with_allow_rules() -> None:
    (example,) = blocks(section(page("agents.md"), "## Permissions"), "json")
    rules = json.loads(example)["permissions"]["allow"]
    assert all(re.fullmatch(r"Bash\([^()]+\)", rule) for rule in rules)


def test_the_state_json_example_is_coords_layout_with_valid_records() -> None:
    (example,) = blocks(section(page("files.md"), "## `state.json`"), "json")
    head, *records, dots, close = example.splitlines()
    assert (dots, close) == ("...", "]}")
    assert head.endswith(',"sessions":[')
    assert tuple(json.loads(head.removesuffix(',"sessions":[') + "}")) == _HEAD_KEYS[:-1]
    state = State.of("demo-mission", [json.loads(line.removesuffix(",")) for line in records])
    assert {name for s in state.sessions for name in s.to_dict()} <= SESSION_FIELDS


def test_the_state_journal_example_reads_as_a_journal_with_the_documented_keys(tmp_path: Path) -> None:
    (example,) = blocks(section(page("files.md"), "## `state.journal`"), "json")
    path = tmp_path / "state.journal"
    path.write_text(example.rstrip("\n") + "\n")
    journal = read_journal(path)
    assert journal is not None
    assert (journal.base, len(journal.entries), journal.torn) == ((3260117512, 70433), 1, False)
    keys = first_names(table(page("files.md"), "## `state.journal`"))
    assert set(journal.entries[0]) <= set(keys) == {"sessions", "new", "summary", "status"}


def test_the_lock_loop_and_capsule_examples_have_the_documented_fields() -> None:
    files = page("files.md")
    lock = json.loads(blocks(section(files, "## `session.lock`"), "json")[0])
    assert SessionLock(**lock).to_dict() == lock
    loop = json.loads(blocks(section(files, "## `loop.json`"), "json")[0])
    assert LoopRecord(**loop).to_dict() == loop
    shown = json.loads(blocks(section(files, "## `next-task.json`"), "json")[0])
    assert list(shown) == first_names(table(files, "## `next-task.json`"))


# Flags: both directions, for every command and the program's own options.


def real_help(command: str | None = None) -> str:
    """What ``mosaic-coord --help [command]`` prints (the program run in this process: it is fast)."""
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        make_program().run(["mosaic-coord", "--help", *([command] if command else [])], exit=False)
    return shown.getvalue()


def help_flags(text: str) -> dict[str, str | None]:
    """``--long`` -> short letter (or None) for every option in a ``--help`` text."""
    options = text.split("ptions:\n", 1)[1].split("\n\nSubcommands:", 1)[0]
    found = {}
    for line in options.splitlines():
        matched = re.match(r"^  (?:-(?P<short>[A-Za-z])[^,]*, )?--(?P<long>[a-z][a-z-]*)", line)
        if matched:
            found[matched["long"]] = matched["short"]
    return found


def documented_flags(text: str) -> dict[str, str | None]:
    """``--long`` -> short letter (or None) for every row of the flag tables in ``text``."""
    found = {}
    for rows in tables(text):
        if rows[0][:2] != ["flag", "short"]:
            continue
        for row in rows[1:]:
            long = re.search(r"--([a-z][a-z-]*)", row[0])
            short = re.search(r"`-([A-Za-z])`", row[1])
            assert long, row
            found[long[1]] = short[1] if short else None
    return found


def test_every_flag_is_documented_and_every_documented_flag_exists() -> None:
    commands = page("commands.md")
    for name in COMMANDS:
        text = section(commands, f"## `{name}`")
        documented = documented_flags(text)
        if "every flag of `run`" in text:
            documented = {**documented_flags(section(commands, "## `run`")), **documented}
        assert documented == help_flags(real_help(name)), name
    assert documented_flags(section(commands, "## Program options")) == help_flags(real_help())


def test_the_loop_caps_table_names_each_cap_its_flag_config_key_and_default() -> None:
    rows = table(page("loop.md"), "## Caps")
    loop_flags = help_flags(real_help("loop"))
    defaults = LoopCaps()
    keys = []
    for flag, config, mission_key, default, _ in rows:
        key = ticked(mission_key)[0].removeprefix("loop: ")
        keys.append(key)
        assert ticked(config) == [f"coord.loop.{key}"]
        assert read_cap(key, ticked(default)[0]) == getattr(defaults, key), key
        if flag:
            name = ticked(flag)[0].split()[0].removeprefix("--")
            assert name in loop_flags
            assert name.replace("-", "_") == CAP_FLAGS.get(key, key)
    assert tuple(keys) == CAP_KEYS


def test_the_mission_yaml_loop_table_names_every_cap_with_its_default() -> None:
    rows = table(page("mission-yaml.md"), "## `loop:`")
    assert tuple(first_names(rows)) == CAP_KEYS
    for row in rows:
        key, default = ticked(row[0])[0], (ticked(row[2]) or [row[2]])[0]
        assert read_cap(key, default) == getattr(LoopCaps(), key), key


# Records: every field documented, and only real ones.


def test_every_session_field_is_documented_and_exists() -> None:
    assert set(first_names(table(page("files.md"), "### Session records"))) == SESSION_FIELDS
    documented = first_names(prompt_table("previous_session"), "previous_session.")
    assert set(documented) == SESSION_FIELDS | {"running"}


def prompt_table(variable: str) -> list[list[str]]:
    text = section(page("prompt.md"), "## Variables")
    for rows in tables(text):
        if rows[1][0].startswith(f"`{variable}."):
            return rows[1:]
    raise AssertionError(f"no table of {variable}")


def test_the_lock_loop_record_loop_summary_capsule_and_state_tables_match_the_code(tmp_path: Path) -> None:
    files = page("files.md")
    assert first_names(table(files, "## `session.lock`")) == [f.name for f in fields(SessionLock)]
    assert first_names(table(files, "## `loop.json`")) == [f.name for f in fields(LoopRecord)]
    record = LoopRecord(loop_id="loop-001", pid=1, host="h", started_at="t", milestone="M1")
    assert set(first_names(table(files, "### Loops"))) == set(record.ended("stopped", "why").summary())
    mission = load_mission(demo_project(tmp_path) / ".mosaic" / "mission.yaml")
    tasks = load_tasks(mission.tasks_path)
    runtime = resolve_runtime("claude", {})
    shown = capsule(
        generated_at="t",
        mission=mission,
        task=tasks.tasks[0],
        runtime=runtime,
        progress=Progress(0, 1),
        milestone=None,
        branch=None,
        acceptance=("`make test` passes",),
    )
    assert first_names(table(files, "## `next-task.json`")) == list(shown)
    top = [name for name in first_names(table(files, "## `state.json`")) if name in _HEAD_KEYS]
    assert sorted(top) == sorted(_HEAD_KEYS)
    assert first_names(table(page("loop.md"), "## Verification")) == list(VERDICTS)


def test_every_template_variable_documented_exists_on_the_real_object(tmp_path: Path) -> None:
    root = demo_project(tmp_path)
    mission = load_mission(root / ".mosaic" / "mission.yaml")
    tasks = load_tasks(mission.tasks_path)
    objects = {
        "mission": mission,
        "task": tasks.tasks[0],
        "runtime": resolve_runtime("claude", {}),
        "milestone": mission.milestones[0],
        "previous_session": Session(session_id="sess-001", runtime="claude", pid=1, started_at="t"),
    }
    names = first_names(table(page("prompt.md"), "## Variables"))
    context = build_context(
        mission=mission,
        task=tasks.tasks[0],
        runtime=resolve_runtime("claude", {}),
        progress=Progress(1, 5),
        milestone=mission.milestones[0],
        previous_session=None,
        branch=None,
    )
    assert sorted(names) == sorted(context)
    for variable, value in objects.items():
        for attribute in first_names(prompt_table(variable), f"{variable}."):
            assert hasattr(value, attribute), f"{variable}.{attribute}"


# Exit codes and stop reasons.


def test_the_exit_codes_table_matches_the_loops_codes() -> None:
    rows = table(page("commands.md"), "## Exit codes")
    codes = {}
    for row in rows:
        code = ticked(row[0])
        if not code:
            assert "agent's own exit code" in row[1]
            continue
        codes[int(code[0])] = row[1]
    assert set(codes) == {0, 1, 2, 3, *EXIT_CODES.values(), exit_code("max-sessions")}
    named = set()
    for code, meaning in codes.items():
        for reason in (word for word in ticked(meaning) if word in STOP_REASONS):
            assert exit_code(reason) == code, reason
            named.add(reason)
    assert named == set(STOP_REASONS)


def test_the_stop_reasons_are_listed_in_their_order_of_precedence_with_their_codes() -> None:
    rows = table(page("loop.md"), "## Stop reasons")
    assert tuple(first_names(rows)) == STOP_REASONS
    for row in rows:
        assert int(ticked(row[1])[0]) == exit_code(ticked(row[0])[0])


# The presets as agents.md shows them.


def test_the_preset_table_shows_the_real_argv_at_each_permission_level() -> None:
    rows = table(page("agents.md"), "## The presets")
    assert {(ticked(r[0])[0], ticked(r[1])[0]) for r in rows} == {
        (n, p) for n in ("claude", "codex") for p in PERMISSIONS
    }
    for name, level, launch, resumed in rows:
        runtime = resolve_runtime(ticked(name)[0], {}, permissions=ticked(level)[0])
        assert tuple(shlex.split(ticked(launch)[0])) == runtime.command
        assert tuple(shlex.split(ticked(resumed)[0])) == runtime.resume
    agents = page("agents.md")
    runtimes = tables(section(agents, "## Runtimes"))
    assert tuple(first_names(runtimes[1][1:])) == PLACEHOLDERS
    keys = {row[0]: row[1] for row in runtimes[0][1:]}
    assert tuple(ticked(keys["`output`"])) == OUTPUTS
    assert tuple(ticked(keys["`permissions`"])) == PERMISSIONS


# status --json, as a real run prints it.


def demo_project(parent: Path) -> Path:
    root = parent / "app"
    if not root.exists():
        shutil.copytree(ROOT / "examples" / "demo" / "project", root)
    return root


def flatten(value: Any, path: str = "") -> Iterator[str]:
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            for key, inner in item.items():
                yield from flatten(inner, f"{path}[].{key}")


def normalised(view: dict[str, Any]) -> set[str]:
    """The key paths of a ``status --json`` object, with the keys that vary named as the page names them."""
    loop_fields = {f.name for f in fields(LoopRecord)}
    paths = set()
    for path in flatten(view):
        parts = path.split(".")
        if parts[0] == "counts" and len(parts) == 2:
            assert parts[1] in {status.value for status in TaskStatus}
            path = "counts.<status>"
        elif path.startswith("cost.by_milestone."):
            path = "cost.by_milestone.<id>"
        elif parts[0] == "sessions[]":
            assert parts[1] in SESSION_FIELDS
            continue
        elif parts[0] == "loop" and len(parts) > 1 and (parts[1] in loop_fields or len(parts) > 2):
            assert parts[1] in loop_fields
            continue
        paths.add(path)
    return paths


def test_the_status_json_schema_is_what_status_prints(tmp_path: Path) -> None:
    root = demo_project(tmp_path)
    orchestrator = root / ".mosaic" / "orchestrator"
    record = {"session_id": "sess-001", "runtime": "demo", "pid": 1, "started_at": "2026-11-20T10:00:00.000Z"}
    ended = {**record, "ended_at": "2026-11-20T10:01:00.000Z", "ended_reason": "completed", "exit_code": 0}
    save_state(orchestrator, State.of("demo-mission", [{**ended, "milestone_id": "M1", "cost_usd": 0.5}]))
    everything = {f.name: f"x-{f.name}" for f in fields(LoopRecord) if f.type in ("str", "str | None")}
    write_loop(orchestrator, LoopRecord(**{**everything, "pid": os.getpid(), "caps": {"max_sessions": 3}}))
    views = []
    for pid in (os.getpid(), 0):  # a live session (this process), then a stale lock
        lock = SessionLock(
            session_id="sess-002",
            runtime="demo",
            pid=pid,
            pid_started_at=process_start_time(pid) if pid else None,
            started_at="2026-11-20T10:02:00.000Z",
            project_path=str(root),
            task_id="T-002",
            host=hostname(),
        )
        write_session_lock(orchestrator, lock)
        result = coord("status", "--json", cwd=root)
        assert result.returncode == 0, result.stderr
        views.append(json.loads(result.stdout))
    assert views[0]["session"] is not None and views[1]["stale_lock"] is not None
    (tmp_path / "hosts").mkdir()
    _, (one, two) = shared_mission(tmp_path / "hosts", 2, tasks_table(1))  # another host's claim
    claim(space(one), "T-01", PATIENT, Said(), lane=1)
    shared = json.loads(coord("status", "--json", cwd=two).stdout)
    assert shared["claims"]["claims"]
    documented = set(first_names(table(page("commands.md"), "### `status --json`")))
    assert normalised(views[0]) | normalised(views[1]) | normalised(shared) == documented


# The prompt examples, rendered for real.


def printed_prompt(root: Path, *args: str) -> str:
    result = coord("run", "--print-only", *args, cwd=root)
    assert result.returncode == 0, result.stderr
    command, prompt = result.stdout.split("\n\n", 1)
    assert command.startswith("command: ")
    return prompt.removesuffix("\n")


def test_the_default_prompt_example_is_what_the_demo_mission_prints(tmp_path: Path) -> None:
    root = demo_project(tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    shown = blocks(section(page("prompt.md"), "## The default template"), "markdown")[0]
    assert printed_prompt(root) == shown.removesuffix("\n").replace(SHOWN_ROOT, str(root))


def test_the_extends_example_renders_without_a_blank_first_line(tmp_path: Path) -> None:
    text = section(page("prompt.md"), "## Extending the default template")
    (template,) = blocks(text, "jinja")
    (mission_yaml,) = blocks(text, "yaml")
    tasks_md, ending = blocks(text, "markdown")
    root = tmp_path / "auth"
    (root / ".mosaic" / "templates").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".mosaic" / "mission.yaml").write_text(mission_yaml)
    (root / "docs" / "TASKS.md").write_text(tasks_md)
    (root / ".mosaic" / "templates" / "continuation.md.j2").write_text(template)
    prompt = printed_prompt(root)
    assert prompt.startswith("## Continuation Mission\n")
    assert prompt.endswith("\n\n" + ending.removesuffix("\n"))


def test_the_unfinished_and_verification_examples_are_what_the_default_template_writes(tmp_path: Path) -> None:
    root = demo_project(tmp_path)
    mission = load_mission(root / ".mosaic" / "mission.yaml")
    tasks = load_tasks(mission.tasks_path)
    base = {"runtime": "demo", "pid": 1, "started_at": "t", "ended_at": "t"}
    interrupted = Session(
        **base, session_id="sess-003", ended_reason="interrupted", exit_code=143, duration_seconds=6, task_id="T-002"
    )
    rejected = Session(
        **base,
        session_id="sess-003",
        ended_reason="completed",
        exit_code=0,
        duration_seconds=4,
        task_id="T-004",
        verdict="rejected",
        rejected_because="`python3 .mosaic/check.py` failed (exit 1)",
        verification={"log_path": f"{SHOWN_ROOT}/.mosaic/orchestrator/logs/sess-003.verify.log"},
    )
    in_lane = Session(
        **base,
        session_id="sess-003",
        ended_reason="completed",
        exit_code=0,
        task_id="T-2",
        verdict="rejected",
        rejected_because="conflict in src/shared.py",
        lane=2,
        worktree=f"{SHOWN_ROOT}/.mosaic/orchestrator/lanes/T-2",
    )
    examples = blocks(section(page("prompt.md"), "### The previous session"), "markdown")
    pairs = ((interrupted, examples[0]), (rejected, examples[1]), (in_lane, examples[-1]))
    for previous, shown in pairs:
        context = build_context(
            mission=mission,
            task=tasks.tasks[1],
            runtime=resolve_runtime("demo", mission.runtimes),
            progress=Progress(1, 5),
            milestone=mission.milestones[0],
            previous_session=previous,
            branch=None,
        )
        assert shown in render(None, context)
    restored = replace(rejected, verdict="accepted", tasks_restored=["T-005", "T-006"])
    reviewed = replace(
        rejected,
        rejected_because="review: no test covers an empty config file",
        review={
            "runtime": "codex",
            "verdict": "reject",
            "reasons": "no test covers an empty config file",
            "log_path": f"{SHOWN_ROOT}/.mosaic/orchestrator/logs/sess-003.review.jsonl",
        },
    )
    for previous, shown in zip((restored, reviewed), examples[2:4], strict=True):
        context = build_context(
            mission=mission,
            task=tasks.tasks[1],
            runtime=resolve_runtime("demo", mission.runtimes),
            progress=Progress(1, 5),
            milestone=mission.milestones[0],
            previous_session=previous,
            branch=None,
        )
        assert shown in render(None, context)


def test_the_status_help_points_at_the_schema() -> None:
    assert "docs/commands.md" in " ".join(real_help("status").split())


README = ROOT / "README.md"


def test_the_readme_mission_example_loads_and_its_tasks_table_parses(tmp_path: Path) -> None:
    """The README's first yaml block is a mission.yaml, its markdown block a tasks file: coord reads both."""
    text = README.read_text()
    mission_yaml = blocks(text, "yaml")[0]
    (tmp_path / ".mosaic").mkdir()
    (tmp_path / ".mosaic" / "mission.yaml").write_text(mission_yaml)
    mission = load_mission(tmp_path / ".mosaic" / "mission.yaml")
    assert (mission.id, mission.permissions, mission.verify is not None) == ("auth-rewrite", "workspace", True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "TASKS.md").write_text(blocks(text, "markdown")[0])
    tasks = load_tasks(tmp_path / "docs" / "TASKS.md")
    assert [(t.id, t.status) for t in tasks.tasks] == [("T-001", TaskStatus.DONE), ("T-002", TaskStatus.NOT_STARTED)]


def test_the_readme_invoke_yaml_example_gives_the_caps_it_shows(tmp_path: Path) -> None:
    (example,) = [block for block in blocks(README.read_text(), "yaml") if block.startswith("# invoke.yaml")]
    settings = read_settings({"coord": yaml.safe_load(example)["coord"]}, environ={})
    caps = loop_caps({}, settings, {})
    assert (settings.runtime, dict(settings.env), caps.max_sessions, caps.max_cost_usd) == (
        "codex",
        {"TEAM": "payments"},
        50,
        40.0,
    )


def test_the_readme_caps_table_has_each_flag_with_its_real_default() -> None:
    rows = next(table for table in tables(README.read_text()) if table[0][:2] == ["flag", "default"])
    defaults = LoopCaps()
    for flag, default, _ in rows[1:]:
        name = flag.strip("`").removeprefix("--").replace("-", "_")
        key = {value: key for key, value in CAP_FLAGS.items()}.get(name, name)
        expected = read_cap(key, default) if default != "none" else None
        assert getattr(defaults, key) == expected, flag
    assert {row[0].strip("`") for row in rows[1:]} <= set(flag_names("loop"))


def test_the_readme_exit_codes_are_the_programs() -> None:
    rows = next(table for table in tables(README.read_text()) if table[0] == ["code", "meaning"])
    codes = {row[0] for row in rows[1:]}
    assert {str(code) for code in EXIT_CODES.values()} | {"4"} <= codes


def flag_names(command: str) -> list[str]:
    """The long flags of ``command`` as its real help lists them."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        make_program().run(["mosaic-coord", "--help", command])
    return re.findall(r"--[a-z-]+", out.getvalue())


def as_seen(text: str) -> list[str]:
    """Transcript lines with what differs from run to run (pids, paths, seconds) blanked."""
    text = re.sub(r"pid \d+", "pid N", text)
    text = re.sub(r"/tmp/[^\s)]+/project", "PROJECT", text)
    return [re.sub(r"\b\d+s\b", "Ns", line) for line in text.strip().splitlines()]


def transcript(text: str, command: str, first_line: str = "") -> list[str]:
    """The output under ``$ <command>`` in the README's console blocks, up to the next prompt
    (the first such transcript whose output starts with ``first_line``)."""
    for block in blocks(text, "console"):
        lines = block.splitlines()
        if f"$ {command}" in lines:
            start = lines.index(f"$ {command}") + 1
            end = next((i for i in range(start, len(lines)) if lines[i].startswith("$ ")), len(lines))
            if lines[start].startswith(first_line):
                return lines[start:end]
    raise AssertionError(f"no `$ {command}` transcript")


def test_the_readme_demo_transcripts_are_what_the_demo_mission_prints(tmp_path: Path) -> None:
    """`run`, `loop` and `status` on the demo mission print what the README shows."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "demo" / "project", root)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    readme = README.read_text()

    def said(*args: str) -> list[str]:  # stdout and stderr as a terminal shows them, in order
        result = subprocess.run(
            [str(BIN / "mosaic-coord"), *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert result.returncode == 0, result.stdout
        return as_seen(result.stdout)

    assert said("run") == as_seen("\n".join(transcript(readme, "mosaic-coord run")))
    status = transcript(readme, "mosaic-coord status", "Demo mission")
    expected = [line for line in status if not line.startswith("project")]
    shown = [line for line in said("status") if not line.startswith("project")]
    assert shown == as_seen("\n".join(expected))
    assert said("loop") == as_seen("\n".join(transcript(readme, "mosaic-coord loop")))


def test_the_acceptance_example_gives_the_line_it_shows(tmp_path: Path) -> None:
    tasks_md, line = blocks(section(page("prompt.md"), "### Acceptance criteria"), "markdown")
    path = tmp_path / "TASKS.md"
    path.write_text(tasks_md)
    tasks = load_tasks(path)
    task = tasks.tasks[0]
    assert task.priority == 1
    mission = load_mission(demo_project(tmp_path) / ".mosaic" / "mission.yaml")
    context = build_context(
        mission=mission,
        task=task,
        runtime=resolve_runtime("demo", mission.runtimes),
        progress=Progress(1, 5),
        milestone=mission.milestones[0],
        previous_session=None,
        branch=None,
        acceptance=criteria(tasks, task),
    )
    assert line in render(None, context)


def test_the_review_template_example_extends_the_packaged_one(tmp_path: Path) -> None:
    (example,) = blocks(section(page("prompt.md"), "## The reviewer's prompt"), "markdown")
    root = demo_project(tmp_path)
    (root / ".mosaic" / "templates").mkdir(exist_ok=True)
    (root / ".mosaic" / "templates" / "review.md.j2").write_text(example)
    config = root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text().replace("verify: quality_gates ", "verify: {review: true}"))
    mission = load_mission(root / ".mosaic" / "mission.yaml")
    assert mission.review is not None
    task = load_tasks(mission.tasks_path).tasks[1]
    claim = Claim("sess-001", "demo", task, (), None, None)
    prompt = review_prompt(mission, mission.review, claim, reviewer_runtime(mission, mission.review, "demo"))
    assert f"1. Check each acceptance criterion of {task.id} against the diff, one by one.\n" in prompt
    assert prompt.rstrip().endswith("VERDICT: reject: <what is missing or wrong, on one line>")


def test_every_test_the_guarantees_page_names_exists() -> None:
    named = set(re.findall(r"`(tests/[\w/]+\.py)`", page("guarantees.md")))
    assert len(named) >= 20
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


def test_the_readme_links_every_page_and_every_link_of_a_page_leads_somewhere() -> None:
    readme = README.read_text()
    assert [name for name in PAGES if f"](docs/{name}" not in readme] == []
    for name in PAGES:
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", page(name)):
            assert (DOCS / target).is_file(), (name, target)
