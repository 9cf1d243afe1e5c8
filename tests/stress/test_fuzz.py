"""Generated mission.yaml, tasks files, locks and state: exit 0 or a clear error, never a traceback or a change."""

from __future__ import annotations

import io
import json
import os
import string
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mosaic_invoke.program import make_program

STATUSES = ["not-started", "in-progress", "done", "blocked", "failed", "cancelled"]
KEYS = [
    "id",
    "name",
    "tasks_file",
    "quality_gates",
    "runtime",
    "runtimes",
    "vars",
    "milestones",
    "template",
    "orchestrator_dir",
    "protocol_file",
    "nmae",
    "extra",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.text(string.printable, max_size=12),
    st.sampled_from(["M1", "M2", "claude", "codex", "~nouser/x", "/dev/null", "docs/TASKS.md", "{{ x }}", "no", "010"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=8,
)
milestone = st.fixed_dictionaries(
    {"id": st.sampled_from(["M1", "M2", 3]), "name": st.text(max_size=8)},
    optional={"status": st.sampled_from(["pending", "done", "in-progress", "x", None])},
)
valid_missions = st.fixed_dictionaries(
    {"id": st.just("demo"), "name": st.text(string.ascii_letters + " {}%", min_size=1, max_size=10)},
    optional={
        "quality_gates": st.sampled_from(["make test", "{{ 7*7 }}"]),
        "runtime": st.sampled_from(["claude", "codex", "nope"]),
        "milestones": st.lists(
            st.fixed_dictionaries({"id": st.sampled_from(["M1", "M2"]), "name": st.just("Milestone")}), max_size=2
        ),
        "vars": st.dictionaries(st.sampled_from(["team", "size"]), scalars, max_size=2),
    },
).map(lambda d: yaml.safe_dump(d).encode())
broken_missions = st.one_of(
    st.fixed_dictionaries(
        {"id": st.sampled_from(["demo", "x"]), "name": st.text(max_size=10)},
        optional={key: values for key in KEYS[2:]} | {"milestones": st.lists(milestone, max_size=3)},
    ).map(lambda d: yaml.safe_dump(d).encode()),
    st.binary(max_size=60),
    st.text(max_size=60).map(str.encode),
)
# Mostly valid missions, so that the fuzz reaches tasks, locks and rendering; else anything.
missions = st.integers(0, 9).flatmap(lambda n: valid_missions if n < 7 else broken_missions)


@st.composite
def task_files(draw: st.DrawFn) -> bytes:
    header = draw(
        st.permutations(
            [
                "id",
                "status",
                *draw(
                    st.lists(
                        st.sampled_from(["milestone", "depends_on", "description", "owner"]), unique=True, max_size=3
                    )
                ),
            ]
        )
    )
    rows = []
    ids = draw(st.lists(st.sampled_from(["T-1", "T-2", "T-3", "T-4", "T-5", "", "T 4"]), max_size=6))
    if draw(st.integers(0, 3)) < 3:  # hypothesis favours 0: make it the common case
        ids = list(dict.fromkeys(["T-1", *ids]))  # mostly unique ids with T-1; sometimes a duplicate
    for task_id in ids:
        cells = {
            "id": task_id,
            "status": draw(st.sampled_from([*STATUSES, *STATUSES, "Done", "", "wip"])),
            "milestone": draw(st.sampled_from(["M1", "M1", "M2", "", "M9"])),
            "depends_on": draw(st.sampled_from(["", "", "", "T-1", "T-2, T-3", "T-9", "T-1,,"])),
        }
        row = [cells.get(column, draw(st.text(string.ascii_letters + " |\\`", max_size=6))) for column in header]
        if draw(st.integers(0, 9)) == 9:
            row = row[: draw(st.integers(0, len(row)))]
        rows.append("| " + " | ".join(row) + " |")
    text = "\n".join(["# Tasks", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows])
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    if draw(st.integers(0, 9)) == 9:
        return draw(st.binary(max_size=40))
    return text.replace("\n", newline).encode()


lock_fields = st.fixed_dictionaries(
    {},
    optional={
        "session_id": st.one_of(st.just("sess-001"), st.integers()),
        "runtime": st.sampled_from(["claude", 5, None]),
        "pid": st.one_of(st.integers(-3, 2**22), st.text(max_size=3), st.booleans()),
        "started_at": st.sampled_from(["2026-11-20T10:00:00.000Z", "yesterday", 0]),
        "project_path": st.just("/somewhere"),
        "host": st.sampled_from(["elsewhere", None]),
        "pid_started_at": st.one_of(st.integers(0, 10**9), st.none()),
    },
)
locks = st.one_of(
    lock_fields.map(lambda d: json.dumps(d).encode()), st.binary(max_size=30), st.just(b"[" * 100_000), st.none()
)


@st.composite
def states(draw: st.DrawFn) -> bytes | None:
    """state.json as coord writes it (so read-only commands take the newest-records path),
    then often damaged: cut short, a byte changed, junk put in, nested too deeply."""
    sessions = [
        {"session_id": f"sess-{n:03d}", "runtime": "claude", "pid": n, "started_at": "2026-11-20T10:00:00.000Z"}
        | draw(st.sampled_from([{}, {"ended_at": "2026-11-20T10:01:00.000Z", "exit_code": 0}, {"task_id": 7}]))
        for n in range(1, draw(st.integers(0, 14)) + 1)
    ]
    state = {"version": 1, "mission_id": "demo", "status": draw(st.sampled_from(["active", 5])), "sessions": sessions}
    raw = (json.dumps(state, indent=2) + "\n").encode()
    where = draw(st.integers(0, len(raw)))
    damage = draw(st.sampled_from(["none", "none", "cut", "byte", "junk", "deep", "absent"]))
    if damage == "absent":
        return None
    if damage == "cut":
        return raw[:where]
    if damage == "byte":
        return raw[:where] + bytes([draw(st.integers(0, 255))]) + raw[where + 1 :]
    if damage == "junk":
        return (
            raw[:where]
            + draw(st.sampled_from([b"]", b"}", b",", b'\n    {"a": 1},', b"\n  ]\n}", b"\xff"]))
            + raw[where:]
        )
    if damage == "deep":
        return raw.replace(b'"sessions": [', b'"sessions": [' + b"[" * 100_000, 1)
    return raw


def run_program(*argv: str) -> tuple[int, str]:
    """mosaic-coord in this process; an exception escaping it is what a user would see as a traceback."""
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            make_program().run(["mosaic-coord", *argv], exit=True)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, err.getvalue()


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mission=missions, tasks=task_files(), lock=locks, state=states())
def test_bad_input_gives_a_clear_error_and_changes_nothing(
    tmp_path: Path, mission: bytes, tasks: bytes, lock: bytes | None, state: bytes | None
) -> None:
    root = tmp_path / "fuzz"
    (root / ".mosaic" / "orchestrator").mkdir(parents=True, exist_ok=True)
    (root / "docs").mkdir(exist_ok=True)
    inputs = {root / ".mosaic" / "mission.yaml": mission, root / "docs" / "TASKS.md": tasks}
    for name, content in (("session.lock", lock), ("state.json", state)):
        if content is not None:
            inputs[root / ".mosaic" / "orchestrator" / name] = content
        else:
            (root / ".mosaic" / "orchestrator" / name).unlink(missing_ok=True)
    for path, content in inputs.items():
        path.write_bytes(content)

    for argv in (
        ["status", "--mission", str(root)],
        ["run", "--print-only", "--mission", str(root)],
        ["run", "--print-only", "--task", "T-1", "--mission", str(root)],
    ):
        code, stderr = run_program(*argv)
        event(f"{' '.join(argv[:3])} exit {code}")
        assert code in (0, 1, 3), (argv, code, stderr)
        lines = stderr.splitlines()
        assert all(line.startswith("coord: ") for line in lines), stderr
        if code:
            assert any(line.startswith("coord: error: ") for line in lines), stderr
        for path, content in inputs.items():
            assert path.read_bytes() == content, f"{path.name} changed"
