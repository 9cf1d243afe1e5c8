"""Benchmarks for coord, as ratios against `invoke --version` measured in the same run.

    python benchmarks/run.py [--rounds N]

Generates missions in a temporary folder (1k, 10k and 100k tasks; 10k sessions), times
whole processes in interleaved rounds after a warm-up (median reported), times a loop step (a
loop of 10 sessions of an agent that marks its task done, agent time out, against a baseline
timed between those loops), and measures the tasks-file parser in-process. Prints each target
with PASS or MISS; exits 0 either way: this is a measurement, not a test.

Before timing, the packages both commands import are byte-compiled in place, as pip does
when it installs them, so that the baseline and coord start from the same state: Invoke
turns bytecode writing off while it starts, so without this an editable checkout would
time modules compiled from source.

A run whose agent prints 50 MB without a newline says what such output costs (time and the
peak memory of coord and the processes it waited for). Two rows carry no target and say what
the ratios are made of: `mosaic-coord --version` is
the start-up alone (it pauses the garbage collector while it imports, which `invoke` does
not, so it can start faster than the baseline); and another tool's state.json read the
first time, decoded whole, before coord keeps its cache (later reads of the same bytes use it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
MILESTONES = 10


def make_mission(root: Path, tasks: int, sessions: int, *, layout: str = "coord") -> Path:
    """A mission with ``tasks`` rows over ten milestones (a third done) and ``sessions`` sessions.

    ``layout`` is how state.json is written: ``coord`` (coord's own, one record a line) or
    ``compact`` (one line, as another tool would write it).
    """
    (root / ".mosaic" / "orchestrator").mkdir(parents=True)
    (root / "docs").mkdir()
    milestones = "".join(f"  - {{id: M{i}, name: Milestone {i}}}\n" for i in range(MILESTONES))
    (root / ".mosaic" / "mission.yaml").write_text(
        f"id: bench\nname: Benchmark mission\nquality_gates: make test\nmilestones:\n{milestones}"
    )
    per_milestone = max(1, tasks // MILESTONES)
    rows = [
        "| id | status | milestone | description | depends_on |",
        "|----|--------|-----------|-------------|------------|",
    ]
    for n in range(tasks):
        status = "done" if n < tasks // 3 else "not-started"
        depends = f"T-{n - 1:06d}" if n % 5 else ""
        rows.append(f"| T-{n:06d} | {status} | M{n // per_milestone} | Task number {n}, with a few words | {depends} |")
    (root / "docs" / "TASKS.md").write_text("# Tasks\n\n" + "\n".join(rows) + "\n")
    records = [
        {
            "session_id": f"sess-{n + 1:03d}",
            "runtime": "claude",
            "pid": 1000 + n,
            "pid_started_at": 5,
            "host": "bench",
            "started_at": "2026-11-20T10:00:00.000Z",
            "ended_at": "2026-11-20T10:41:03.000Z",
            "ended_reason": "completed",
            "exit_code": 0,
            "duration_seconds": 2463,
            "milestone_id": f"M{n % MILESTONES}",
            "task_id": f"T-{n % max(tasks, 1):06d}",
            "verdict": "accepted",
            "tasks_done": [f"T-{n % max(tasks, 1):06d}"],
            "cost_usd": 0.42,
            "input_tokens": 12000,
            "output_tokens": 2400,
        }
        for n in range(sessions)
    ]
    state = root / ".mosaic" / "orchestrator" / "state.json"
    if layout == "coord":
        from mosaic_invoke.store.state import State, save_state

        save_state(state.parent, State.of("bench", records, status="active"))
    else:
        state.write_text(json.dumps({"version": 1, "mission_id": "bench", "status": "active", "sessions": records}))
    return root


def compile_installed(env: dict[str, str]) -> None:
    """Byte-compile the packages the timed commands import, as pip does on install."""
    folders = []
    for name in ("invoke", "jinja2", "markupsafe", "yaml", "fasteners", "mosaic_invoke"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            folders.append(str(Path(spec.origin).parent))
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], env=env, check=True)


Command = tuple[list[str], Path] | tuple[list[str], Path, Path]
"""argv, folder, and optionally a file removed before each run (a cache, to time a first read)."""


def time_commands(commands: dict[str, Command], rounds: int, env: dict[str, str]) -> dict[str, float]:
    """Median wall time of each command, run in interleaved rounds after two warm-up rounds."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_number in range(rounds + 2):
        for name, (argv, cwd, *removed) in commands.items():
            for path in removed:
                path.unlink(missing_ok=True)
            start = time.perf_counter()
            subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            if round_number >= 2:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


PARSE_SCRIPT = """
import json, sys, time, tracemalloc
from pathlib import Path
from mosaic_invoke.tasks.tasksfile import TaskStatus, load
path, task_id, trace = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
if trace:
    tracemalloc.start()
start = time.perf_counter()
tasks_file = load(path)
tasks_file.write_status(task_id, TaskStatus.IN_PROGRESS)
elapsed = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] if trace else 0
print(json.dumps({"seconds": elapsed, "peak": peak}))
"""


def parse_and_set(
    paths: dict[str, tuple[Path, str]], rounds: int, env: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """For each tasks file: median seconds to parse it and set one status (a fresh process each,
    the files taken in turn so that a drift of the machine's speed touches all alike), and
    the peak MiB of one traced run."""

    def once(path: Path, task_id: str, trace: bool) -> dict[str, float]:
        result = subprocess.run(
            [sys.executable, "-c", PARSE_SCRIPT, str(path), task_id, "1" if trace else "0"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    samples: dict[str, list[float]] = {name: [] for name in paths}
    for round_number in range(rounds + 1):
        for name, (path, task_id) in paths.items():
            seconds = once(path, task_id, trace=False)["seconds"]
            if round_number:
                samples[name].append(seconds)
    return {
        name: (statistics.median(samples[name]), once(path, task_id, trace=True)["peak"] / 2**20)
        for name, (path, task_id) in paths.items()
    }


AGENT = """#!/bin/sh
# A stand-in agent that marks its task done at once, and notes when it began and ended.
began=$(date +%s%N)
sed -i "s/^| $MOSAIC_TASK_ID | [a-z-]* |/| $MOSAIC_TASK_ID | done |/" docs/TASKS.md
echo "$began $(date +%s%N)" >> "$BENCH_AGENT_TIMES"
"""
LOOP_SESSIONS = 10


def loop_step(coord: str, root: Path, rounds: int, env: dict[str, str]) -> tuple[float, float]:
    """Seconds a loop spends per session beyond its agent: a loop of 10 sessions of an agent that
    marks its task done at once, each loop on a fresh copy of the mission; from the end of the
    first agent to the end of the last, less the time of the agents in between, over 9 steps;
    the median of ``rounds`` loops. And the median of the baseline, timed between the loops (the
    loops run after the other rows, when the machine may be busier or quieter)."""
    import shutil

    agent = root.with_name("agent.sh")
    agent.write_text(AGENT)
    loop = [coord, "loop", "--command", f"sh {agent}", "--max-sessions", str(LOOP_SESSIONS), "--backoff", "0"]
    steps: list[float] = []
    baseline: list[float] = []
    for round_number in range(rounds + 1):
        copy = root.with_name(f"{root.name}-loop-{round_number}")
        shutil.copytree(root, copy)
        times = copy.with_name(f"{copy.name}.times")
        subprocess.run(
            loop,
            cwd=copy,
            env={**env, "BENCH_AGENT_TIMES": str(times)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # it stops on its cap of sessions: exit 4
        agents = [tuple(int(stamp) / 1e9 for stamp in line.split()) for line in times.read_text().splitlines()]
        if len(agents) != LOOP_SESSIONS:
            msg = f"the loop ran {len(agents)} agents, not {LOOP_SESSIONS}"
            raise SystemExit(msg)
        if round_number:  # the first loop warms the file cache
            spent = agents[-1][1] - agents[0][1] - sum(end - began for began, end in agents[1:])
            steps.append(spent / (LOOP_SESSIONS - 1))
        shutil.rmtree(copy)
        times.unlink()
        start = time.perf_counter()
        subprocess.run([str(BIN / "invoke"), "--version"], env=env, stdout=subprocess.DEVNULL, check=True)
        baseline.append(time.perf_counter() - start)
    return statistics.median(steps), statistics.median(baseline[1:])


LANE_AGENT = """\
import os, re, subprocess, sys, time
from pathlib import Path
time.sleep(2)
task = os.environ["MOSAIC_TASK_ID"]
Path("work").mkdir(exist_ok=True)
Path("work", task + ".txt").write_text(task + "\\n")
subprocess.run(["git", "add", "work"], check=True)
subprocess.run(["git", "commit", "-qm", task], check=True)
tasks = Path("docs/TASKS.md")
pattern = re.compile(r"^(\\|\\s*" + re.escape(task) + r"\\s*\\|\\s*)[a-z-]+", re.MULTILINE)
tasks.write_text(pattern.sub(r"\\g<1>done", tasks.read_text(), count=1))
"""


def lanes_speedup(base: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of a loop over 16 independent tasks whose agent takes 2 s, with 1 lane and
    with 4 (gates and landing included), each on a fresh git project."""
    agent = base / "lane_agent.py"
    agent.write_text(LANE_AGENT)
    identity = {
        f"GIT_{role}_{key}": value
        for role in ("AUTHOR", "COMMITTER")
        for key, value in (("NAME", "Bench"), ("EMAIL", "bench@localhost"))
    }
    loop_env = {**env, **identity, "INVOKE_COORD_LOOP_REPORT": "false"}
    walls = []
    for lanes in (1, 4):
        root = base / f"lanes-{lanes}"
        (root / ".mosaic").mkdir(parents=True)
        (root / "docs").mkdir()
        (root / ".mosaic" / "mission.yaml").write_text("id: bench\nname: Bench\nverify: {command: 'test -d docs'}\n")
        rows = "".join(f"| T-{n:02d} | not-started |\n" for n in range(1, 17))
        (root / "docs" / "TASKS.md").write_text("| id | status |\n|----|----|\n" + rows)
        (root / ".gitignore").write_text(".mosaic/orchestrator/\n")
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "start"]):
            subprocess.run(["git", *args], cwd=root, env=loop_env, check=True)
        command = [str(BIN / "mosaic-coord"), "loop", "--lanes", str(lanes), "--backoff", "0"]
        start = time.perf_counter()
        subprocess.run(
            [*command, "--command", f"{sys.executable} {agent}"],
            cwd=root,
            env=loop_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        walls.append(time.perf_counter() - start)
    return walls[0], walls[1]


def no_newline(coord: str, root: Path, env: dict[str, str], megabytes: int = 50) -> tuple[float, float]:
    """One `run` whose agent prints ``megabytes`` MB without a newline (a progress bar): its
    seconds, and the peak memory (MiB) of coord or of a process it waited for."""
    agent = root.parent / "no_newline_agent.py"
    loop = f"for _ in range({megabytes * 16}):\n    sys.stdout.buffer.write(c)\n"
    agent.write_text(f"import sys\nc = b'x' * 65536\n{loop}")
    # The peak is read by a small launcher: a child started by vfork inherits its parent's peak
    # memory when it execs, so waiting here would measure this script, grown by earlier rows.
    launcher = (
        "import os, subprocess, sys\n"
        "process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(os.wait4(process.pid, 0)[2].ru_maxrss)\n"
    )
    start = time.perf_counter()
    command = [sys.executable, "-c", launcher, coord, "run", "--command", f"{sys.executable} {agent}"]
    peak_kib = int(subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True).stdout)
    return time.perf_counter() - start, peak_kib / 1024


def ratio_row(
    name: str, seconds: float, baseline: float, target: float | None
) -> tuple[str, str, str, str, bool | None]:
    ratio = seconds / baseline
    return (
        name,
        f"{seconds:.3f} s",
        f"<= {target:.2f}x" if target else "",
        f"{ratio:.2f}x",
        None if target is None else ratio <= target,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per command (default 15)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mosaic-bench-") as tmp:
        base = Path(tmp)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPYCACHEPREFIX"}
        compile_installed(env)
        print(f"generating missions in {base} ...", flush=True)
        m1k = make_mission(base / "m1k", 1_000, 0)
        m10k = make_mission(base / "m10k", 10_000, 10_000)
        other = make_mission(base / "m10k-other", 10_000, 10_000, layout="compact")
        other_first = make_mission(base / "m10k-other-first", 10_000, 10_000, layout="compact")
        runs = make_mission(base / "m10k-run", 10_000, 10_000)
        m100k = make_mission(base / "m100k", 100_000, 0)

        coord = str(BIN / "mosaic-coord")
        times = time_commands(
            {
                "baseline": ([str(BIN / "invoke"), "--version"], base),
                "status": ([coord, "status", "--json"], m10k),
                "print_only": ([coord, "run", "--print-only", "--task", "T-004000"], m10k),
                "startup": ([coord, "--version"], base),
                "status_other": ([coord, "status", "--json"], other),
                "status_other_first": (
                    [coord, "status", "--json"],
                    other_first,
                    other_first / ".mosaic" / "orchestrator" / "state.cache.json",
                ),
                "print_only_other": ([coord, "run", "--print-only", "--task", "T-004000"], other),
                "run": ([coord, "run", "--command", "true"], runs),
                "status_1k": ([coord, "status", "--json"], m1k),
                "report": ([coord, "report"], m10k),
            },
            args.rounds,
            env,
        )
        step, step_baseline = loop_step(coord, m10k, max(5, args.rounds // 2), env)
        one_lane, four_lanes = lanes_speedup(base, env)
        spewed, spewed_peak = no_newline(coord, make_mission(base / "m-spew", 10, 0), env)
        parsed = parse_and_set(
            {"10k": (m10k / "docs" / "TASKS.md", "T-005000"), "100k": (m100k / "docs" / "TASKS.md", "T-050000")},
            args.rounds,
            env,
        )
        (parse_10k, _), (parse_100k, peak_100k) = parsed["10k"], parsed["100k"]

    baseline = times["baseline"]
    rows = [
        ("invoke --version (baseline)", f"{baseline:.3f} s", "", "", None),
        ratio_row("mosaic-coord --version (start-up alone)", times["startup"], baseline, None),
        ratio_row("status --json, 1k tasks", times["status_1k"], baseline, None),
        ratio_row("status --json, 10k tasks / 10k sessions", times["status"], baseline, 1.30),
        ratio_row("run --print-only, 10k / 10k", times["print_only"], baseline, 1.60),
        ratio_row("status --json, 10k / 10k, another tool's state.json", times["status_other"], baseline, 1.30),
        ratio_row("run --print-only, 10k / 10k, another tool's", times["print_only_other"], baseline, 1.60),
        ratio_row("status --json, another tool's, first read (no cache)", times["status_other_first"], baseline, None),
        ratio_row("run --command true (a whole session), 10k / 10k", times["run"], baseline, 1.50),
        ratio_row("loop step (10 sessions, agent time out), 10k / 10k", step, step_baseline, 0.50),
        (
            "loop --lanes 4 over --lanes 1: 16 tasks, 2 s agent",
            f"{four_lanes:.1f} s",
            ">= 3.0x",
            f"{one_lane / four_lanes:.2f}x",
            one_lane / four_lanes >= 3.0,
        ),
        (
            "report, 10k tasks / 10k sessions",
            f"{times['report']:.3f} s",
            "< 1.0 s",
            f"{times['report']:.3f} s",
            times["report"] < 1.0,
        ),
        ("run, the agent prints 50 MB without a newline", f"{spewed:.3f} s", "", "", None),
        ("peak memory of that", f"{spewed_peak:.1f} MiB", "< 80 MiB", f"{spewed_peak:.1f} MiB", spewed_peak < 80),
        (
            "parse + set_status, 100k rows (in-process)",
            f"{parse_100k:.3f} s",
            "< 0.50 s",
            f"{parse_100k:.3f} s",
            parse_100k < 0.5,
        ),
        ("peak memory of that", f"{peak_100k:.1f} MiB", "< 150 MiB", f"{peak_100k:.1f} MiB", peak_100k < 150),
        ("parse + set_status, 10k rows (in-process)", f"{parse_10k:.3f} s", "", "", None),
        (
            "scaling: 100k over 10k",
            f"{parse_100k / parse_10k:.1f}x",
            "<= 12x",
            f"{parse_100k / parse_10k:.1f}x",
            parse_100k / parse_10k <= 12,
        ),
    ]
    print(
        f"\n{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"{platform.machine()}; median of {args.rounds} rounds\n"
    )
    print(f"| {'benchmark':<52} | {'median':>10} | {'target':>9} | {'measured':>10} | result |")
    print(f"|{'-' * 54}|{'-' * 12}|{'-' * 11}|{'-' * 12}|--------|")
    for name, median, target, measured, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"| {name:<52} | {median:>10} | {target:>9} | {measured:>10} | {verdict:<6} |")


if __name__ == "__main__":
    main()
