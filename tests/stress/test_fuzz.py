"""Generated mission.yaml, tasks files, locks, state and loop records, and links planted in the
orchestrator folder: exit 0 or a clear error, never a traceback, a change, or a write through a link."""

from __future__ import annotations

import io
import json
import os
import shutil
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
# YAML merge keys, well and badly used: anchors merged into milestones and into the mission itself.
merged_missions = st.fixed_dictionaries(
    {
        "base": st.sampled_from(["{name: Milestone}", "{id: M1, name: One}", "{status: done, name: Done}", "5", "[]"]),
        "merge": st.sampled_from(["*base", "[*base]", "[*base, {id: M2}]", "[{id: M2, name: Two}, *base]", "7"]),
        "own": st.sampled_from(["", ", id: M1", ", id: M2, name: Two", ", id: M1, id: M2"]),
        "top": st.booleans(),
    }
).map(
    lambda d: (
        "id: demo\nname: Merged\nmilestones:\n"
        f"  - &base {d['base']}\n"
        f"  - {{<<: {d['merge']}{d['own']}}}\n" + ("<<: {quality_gates: make test}\n" if d["top"] else "")
    ).encode()
)
# Mostly valid missions, so that the fuzz reaches tasks, locks and rendering; else anything.
missions = st.integers(0, 9).flatmap(
    lambda n: valid_missions if n < 6 else merged_missions if n < 8 else broken_missions
)


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
# Numbers JSON has not (Infinity, NaN), that overflow a float, or that Python will not convert.
NUMBERS = [b"9" * 5000, b"-" + b"1" * 4400, b"Infinity", b"-Infinity", b"NaN", b"1e999", b"9" * 30]


def with_number(raw: bytes, key: bytes, number: bytes) -> bytes:
    """``raw`` with the value of its first ``key`` (a number) replaced by ``number``."""
    at = raw.find(b'"' + key + b'": ')
    if at < 0:
        return raw
    start = at + len(key) + 4
    end = start
    while end < len(raw) and raw[end : end + 1] not in (b",", b"}", b"\n"):
        end += 1
    return raw[:start] + number + raw[end:]


locks = st.one_of(
    lock_fields.map(lambda d: json.dumps(d).encode()),
    st.tuples(st.sampled_from(["pid", "pid_started_at", "owner_pid"]), st.sampled_from(NUMBERS)).map(
        lambda kn: with_number(
            json.dumps(
                {"session_id": "sess-001", "runtime": "claude", "pid": 1, "started_at": "x", "project_path": "/"}
                | {"pid_started_at": 5, "owner_pid": 2}
            ).encode(),
            kn[0].encode(),
            kn[1],
        )
    ),
    st.binary(max_size=30),
    st.just(b"[" * 100_000),
    st.none(),
)
loops = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["pid", "pid_started_at", "cost_usd", "failures"]), st.sampled_from(NUMBERS)).map(
        lambda kn: with_number(
            json.dumps(
                {"loop_id": "loop-001", "pid": 1, "host": "here", "started_at": "2026-11-20T10:00:00.000Z"}
                | {"pid_started_at": 5, "cost_usd": 0.5, "failures": 0}
            ).encode(),
            kn[0].encode(),
            kn[1],
        )
    ),
    st.binary(max_size=30),
)
# Where an agent (or anyone who can write there) plants a link to a file of the user's.
LINKED = ["next-task.json", "report.html", "coord.lock", "stop-request.json", "logs/sess-001.prompt.md"]


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
    damage = draw(st.sampled_from(["none", "none", "cut", "byte", "junk", "deep", "number", "absent", "no-newline"]))
    if damage == "absent":
        return None
    if damage == "number":
        key = draw(st.sampled_from([b"pid", b"exit_code", b"version"]))
        return with_number(
            raw.replace(b'"exit_code": 0', b'"exit_code": 0, "duration_seconds": 3'),
            key,
            draw(st.sampled_from(NUMBERS)),
        ).replace(b'"duration_seconds": 3', b'"duration_seconds": ' + draw(st.sampled_from(NUMBERS)))
    if damage == "no-newline":  # one line of 1 MB, never ended
        return raw.rstrip(b"\n").replace(b"\n", b" ") + b" " * (1 << 20)
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
@given(
    mission=missions,
    tasks=task_files(),
    lock=locks,
    state=states(),
    loop=loops,
    linked=st.lists(st.sampled_from(LINKED), unique=True, max_size=3),
    no_newline=st.booleans(),
)
def test_bad_input_gives_a_clear_error_and_changes_nothing(
    tmp_path: Path,
    mission: bytes,
    tasks: bytes,
    lock: bytes | None,
    state: bytes | None,
    loop: bytes | None,
    linked: list[str],
    *,
    no_newline: bool,
) -> None:
    root = tmp_path / "fuzz"
    orchestrator = root / ".mosaic" / "orchestrator"
    shutil.rmtree(orchestrator, ignore_errors=True)
    (orchestrator / "logs").mkdir(parents=True)
    (root / "docs").mkdir(exist_ok=True)
    if no_newline:  # files whose last line has no end
        mission, tasks = mission.rstrip(b"\n"), tasks.rstrip(b"\n")
    inputs = {root / ".mosaic" / "mission.yaml": mission, root / "docs" / "TASKS.md": tasks}
    for name, content in (("session.lock", lock), ("state.json", state), ("loop.json", loop)):
        if content is not None:
            inputs[orchestrator / name] = content
    victim = tmp_path / "the-users-file"
    victim.write_bytes(b"the user's own")
    for name in linked:
        (orchestrator / name).symlink_to(victim)
    for path, content in inputs.items():
        path.write_bytes(content)

    for argv in (
        ["status", "--mission", str(root)],
        ["run", "--print-only", "--mission", str(root)],
        ["run", "--print-only", "--task", "T-1", "--mission", str(root)],
        ["report", "--mission", str(root)],
    ):
        code, stderr = run_program(*argv)
        event(f"{' '.join(argv[: argv.index('--mission')])} exit {code}")
        assert code in (0, 1, 3), (argv, code, stderr)
        lines = stderr.splitlines()
        assert all(line.startswith("coord: ") for line in lines), stderr
        if code:
            assert any(line.startswith("coord: error: ") for line in lines), stderr
        for path, content in inputs.items():
            assert path.read_bytes() == content, f"{path.name} changed"
        assert victim.read_bytes() == b"the user's own", f"written through a link: {linked}"
