"""Flags as a user meets them: one short letter per meaning, help for every flag, only options
that do something, and hints that name the program the user typed."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, coord, write_guides

from mosaic_invoke.collection import make_collection
from mosaic_invoke.flags import SHORT_FLAGS
from mosaic_invoke.program import make_program

REPO = Path(__file__).resolve().parents[2]
COMMANDS = sorted(make_collection().task_names)
PROGRAMS = ["invoke", "mosaic-coord"]
OPTION = re.compile(r"^  (?:-(\w)(?: \[?\w+\]?)?, )?--([\w-]+)(?:\[?=\w+\]?)?( +\S.*)?$", re.MULTILINE)


def task_help(program: str, name: str) -> str:
    if program == "mosaic-coord":
        result = coord("--help", name, cwd=REPO)
    else:
        result = subprocess.run(
            [str(BIN / "invoke"), "--help", f"coord.{name}"], cwd=REPO, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("Options:")[1]


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("name", COMMANDS)
def test_every_flag_has_help_and_only_its_own_short_letter(program: str, name: str) -> None:
    options = OPTION.findall(task_help(program, name))
    assert options, name
    for short, flag, text in options:
        assert text.strip(), f"--{flag} of {name} has no help"
        assert short == SHORT_FLAGS.get(flag.replace("-", "_"), ""), f"--{flag} of {name} has -{short}"


def test_one_letter_one_meaning_across_every_command() -> None:
    meanings: dict[str, set[str]] = {}
    for name in COMMANDS:
        for argument in make_collection()[name].get_arguments():
            for alias in argument.nicknames:
                meanings.setdefault(alias, set()).add(argument.name)
    assert all(len(names) == 1 for names in meanings.values()), meanings
    assert len(set(SHORT_FLAGS.values())) == len(SHORT_FLAGS)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["status", "-i", "."], 0, id="status-i-is-mission"),
        pytest.param(["status", "-m", "."], 2, id="status-m-is-not-mission"),
        pytest.param(["run", "-p", "-m", "M1"], 0, id="run-m-is-milestone"),
        pytest.param(["init", "-t"], 2, id="init-t-is-not-template"),
    ],
)
def test_letters_as_the_readme_gives_them(project: Path, args: list[str], expected: int) -> None:
    assert coord(*args, cwd=project).returncode == expected


HIDDEN = ["--pty", "-p", "--dry", "-R", "--echo", "-e", "--hide", "--warn-only", "-w", "--write-pyc"]
HIDDEN_WITH_VALUE = ["--command-timeout", "-T", "--hide"]


def test_core_help_offers_only_options_that_do_something() -> None:
    text = coord("--help", cwd=REPO).stdout.split("Subcommands:")[0]
    flags = {flag for _, flag, _ in OPTION.findall(text)}
    assert flags == {
        "complete",
        "config",
        "debug",
        "help",
        "list",
        "list-depth",
        "list-format",
        "print-completion-script",
        "version",
    }
    for short in ("-d", "-f", "-l", "-T", "-e", "-p", "-w", "-R"):
        assert f"  {short}" not in text


@pytest.mark.parametrize("flag", [*HIDDEN, "--prompt-for-sudo-password", *[f"{f}=5" for f in HIDDEN_WITH_VALUE]])
def test_options_that_do_nothing_for_coord_are_refused(project: Path, flag: str) -> None:
    """`--dry` silently ignored would start a real agent."""
    result = coord(flag, "status", cwd=project)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr


def test_the_kept_core_options_work(project: Path, tmp_path: Path) -> None:
    listed = coord("--list", cwd=project)
    assert listed.returncode == 0 and "run" in listed.stdout
    runtime_config = tmp_path / "runtime.yaml"
    runtime_config.write_text("coord:\n  runtime: codex\n")
    result = coord("--config", str(runtime_config), "run", "--print-only", "--json", cwd=project)
    assert json.loads(result.stdout)["capsule"]["runtime"] == "codex"
    assert coord("--debug", "status", cwd=project).returncode == 0
    assert coord("--print-completion-script", "bash", cwd=project).returncode == 0


def test_help_survives_a_second_parse_in_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    program = make_program()
    for _ in range(2):
        program.run(["mosaic-coord", "--help", "run"], exit=False)
        assert "mission task id to run" in capsys.readouterr().out


def invoke_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "tasks.py").write_text(
        "from invoke import Collection\nfrom mosaic_invoke import coord\nns = Collection(coord)\n"
    )
    return subprocess.run(
        [str(BIN / "invoke"), *args], cwd=folder, capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )


def test_hints_name_the_program_the_user_typed(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "run `mosaic-coord init` to create one" in coord("status", cwd=empty).stderr
    assert "run `invoke coord.init` to create one" in invoke_in(empty, "coord.status").stderr

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert "`mosaic-coord run --print-only`" in coord("init", cwd=fresh).stdout
    other = tmp_path / "other"
    other.mkdir()
    assert "`invoke coord.run --print-only`" in invoke_in(other, "coord.init").stdout


def test_the_stale_lock_hint_names_the_program(project: Path) -> None:
    orchestrator = project / ".mosaic" / "orchestrator"
    orchestrator.mkdir(parents=True)
    lock = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 999999,
        "started_at": "2026-11-20T10:00:00.000Z",
        "project_path": str(project),
        "task_id": "T-002",
        "host": socket.gethostname(),
    }
    (orchestrator / "session.lock").write_text(json.dumps(lock))
    assert "recover with `mosaic-coord resume`" in coord("status", cwd=project).stdout
    assert "run `mosaic-coord resume` to record it" in coord("run", "--print-only", cwd=project).stderr
    assert "run `invoke coord.resume` to record it" in invoke_in(project, "coord.run", "--print-only").stderr


def test_a_reader_that_went_away_is_no_traceback(project: Path) -> None:
    write_guides(project)  # no warning on stderr either
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `mosaic-coord status | head -1` once head has its line
    try:
        result = subprocess.run(
            [str(BIN / "mosaic-coord"), "status"], cwd=project, stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == b""


def test_completion_and_help_reach_every_command_though_a_run_parses_only_its_own() -> None:
    """mosaic-coord builds the parser of the commands its line names; completion needs them all."""
    listed = coord("--complete", "--", "mosaic-coord", cwd=REPO).stdout.split()
    assert listed == COMMANDS
    assert coord("--complete", "--", "mosaic-coord", "status", "--", cwd=REPO).stdout.split() == ["--mission", "--json"]
    assert "mission task id to run" in coord("--help=run", cwd=REPO).stdout
    assert "mission task id to run" in coord("-hrun", "status", cwd=REPO).stdout
    assert "No idea what 'statsu' is!" in coord("statsu", cwd=REPO).stderr
    both = coord("status", "--json", "logs", "--help", cwd=REPO)  # two commands on one line
    assert both.returncode == 0 and "Usage: mosaic-coord [--core-opts] logs" in both.stdout


def test_start_up_pauses_the_collector_only_while_it_imports() -> None:
    """Importing the package costs nothing of Invoke; mosaic-coord imports Invoke with the cyclic
    collector paused (no pass while Invoke is half imported), then freezes what it imported and
    turns the collector back on."""
    script = (
        "import gc, sys\n"
        "import mosaic_invoke, mosaic_invoke.cli\n"
        "assert 'invoke' not in sys.modules, 'importing the package imported Invoke'\n"
        "halfway = []\n"
        "def seen(phase, info):\n"
        "    if phase == 'start' and 'invoke' in sys.modules and 'invoke.program' not in sys.modules:\n"
        "        halfway.append(info)\n"
        "gc.callbacks.append(seen)\n"
        "sys.argv = ['mosaic-coord', '--version']\n"
        "try:\n"
        "    mosaic_invoke.cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "from mosaic_invoke import coord\n"
        "print(len(halfway), gc.isenabled(), gc.get_freeze_count() > 10_000, coord.name)\n"
    )
    result = subprocess.run([str(BIN / "python"), "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["0", "True", "True", "coord"]
