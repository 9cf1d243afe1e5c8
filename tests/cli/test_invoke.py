"""coord as an Invoke user meets it: the real `invoke` and `mosaic-coord` executables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN, coord, write_guides

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "invoke"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def runtime_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["capsule"]["runtime"])


def test_list_shows_every_command_with_a_summary() -> None:
    result = invoke("--list", cwd=REPO)
    assert result.returncode == 0, result.stderr
    for name in ("coord.run", "coord.resume", "coord.status", "coord.init", "test", "lint", "bench"):
        assert re.search(rf"^  {re.escape(name)} +\S", result.stdout, re.MULTILINE), name


def test_mosaic_coord_version_and_help() -> None:
    version = coord("--version", cwd=REPO)
    assert re.fullmatch(r"mosaic-coord \d+\.\d+\.\d+\S*\n", version.stdout)
    assert "--print-only" in coord("--help", "run", cwd=REPO).stdout


@pytest.mark.parametrize("args", [["run", "--no-such-flag"], ["--no-such-core-flag"], ["no-such-command"]])
def test_wrong_usage_exits_2(args: list[str]) -> None:
    result = coord(*args, cwd=REPO)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


PROJECT_TASKS = '''
from invoke import Collection, task
from mosaic_invoke import coord


@task
def deploy(c):
    """Deploy (a project task of its own)."""
    print("deploying to", c.config.deploy.target)


ns = Collection(deploy)
ns.add_collection(coord)
ns.configure({"deploy": {"target": "staging"}, "coord": {"runtime": "codex"}})
'''


def test_composition_with_a_project_tasks_py(project: Path) -> None:
    (project / "tasks.py").write_text(PROJECT_TASKS)
    listed = invoke("--list", cwd=project).stdout
    assert "deploy" in listed
    assert "coord.run" in listed
    assert invoke("deploy", cwd=project).stdout == "deploying to staging\n"
    # The parent's `coord` section replaced ours whole: every other key still falls back.
    assert runtime_of(invoke("coord.run", "--print-only", "--json", cwd=project)) == "codex"
    status = invoke("coord.status", "--json", cwd=project)
    assert json.loads(status.stdout)["next_task"] == "T-002"


def test_config_precedence_flag_env_invoke_yaml_mission_default(project: Path) -> None:
    config = project / ".mosaic" / "mission.yaml"
    args = ("coord.run", "--print-only", "--json")
    (project / "tasks.py").write_text(
        "from invoke import Collection\nfrom mosaic_invoke import coord\nns = Collection()\nns.add_collection(coord)\n"
    )
    assert runtime_of(invoke(*args, cwd=project)) == "claude"  # built-in default
    config.write_text(config.read_text() + "runtime: codex\nruntimes:\n  a: [a]\n  b: [b]\n  c: [c]\n")
    assert runtime_of(invoke(*args, cwd=project)) == "codex"  # mission.yaml
    (project / "invoke.yaml").write_text("coord:\n  runtime: a\n")
    assert runtime_of(invoke(*args, cwd=project)) == "a"  # invoke.yaml beats mission.yaml
    env = {"INVOKE_COORD_RUNTIME": "b"}
    assert runtime_of(invoke(*args, cwd=project, env=env)) == "b"  # environment beats invoke.yaml
    assert runtime_of(invoke(*args, "--runtime", "c", cwd=project, env=env)) == "c"  # the flag beats all
    # mosaic-coord reads the same invoke.yaml and environment.
    assert runtime_of(coord("run", "--print-only", "--json", cwd=project)) == "a"
    assert runtime_of(coord("run", "--print-only", "--json", cwd=project / "docs", env=env)) == "b"


def test_runtimes_from_invoke_yaml(project: Path) -> None:
    (project / "invoke.yaml").write_text("coord:\n  runtimes:\n    mine: [my-agent, --go, '{prompt}']\n")
    result = coord("run", "--print-only", "--json", "--runtime", "mine", cwd=project)
    assert result.returncode == 0, result.stderr
    command = json.loads(result.stdout)["command"]
    assert command[:2] == ["my-agent", "--go"]
    assert "6. Launch runtime with `my-agent --go`" in command[2]


def test_command_and_env_through_environment_variables(project: Path, tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    env = {
        "INVOKE_COORD_COMMAND": AGENT_COMMAND,
        "INVOKE_COORD_ENV": "TEAM=payments LEVEL=3",
        "FAKE_AGENT_RECORD": str(record),
    }
    result = coord("run", "--env", "LEVEL=4", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    got = json.loads(record.read_text())["env"]
    assert (got["TEAM"], got["LEVEL"]) == ("payments", "4")


def test_mission_by_config_from_another_folder(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = coord("status", "--json", cwd=elsewhere, env={"INVOKE_COORD_MISSION": str(project)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mission"]["id"] == "demo"
    outside = coord("status", cwd=elsewhere)
    assert outside.returncode == 1
    assert "run `mosaic-coord init` to create one, or pass --mission PATH" in outside.stderr


def test_init_then_print_only_in_two_commands(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    created = coord("init", "--template", cwd=folder)
    assert created.returncode == 0, created.stderr
    assert "created .mosaic/mission.yaml" in created.stdout
    assert (folder / ".mosaic" / "templates" / "continuation.md.j2").read_text() == (
        REPO / "templates" / "continuation.md.j2"
    ).read_text()
    result = coord("run", "--print-only", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "- **Next task:** T-001" in result.stdout

    before = (folder / ".mosaic" / "mission.yaml").read_bytes()
    again = coord("init", cwd=folder)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "coord: error: .mosaic/mission.yaml, docs/TASKS.md already exist; "
        "mosaic-coord init never overwrites (remove them to start again)"
    )
    assert (folder / ".mosaic" / "mission.yaml").read_bytes() == before


def test_the_makefile_wrapper(project: Path, tmp_path: Path) -> None:
    makefile = REPO / "examples" / "makefile-wrapper" / "Makefile"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "INVOKE_COORD_COMMAND": AGENT_COMMAND,
        "FAKE_AGENT_RECORD": str(tmp_path / "record.json"),
    }

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", "-f", str(makefile), *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    prompt = make("agent-prompt", "TASK=T-003")
    assert prompt.returncode == 0, prompt.stderr
    assert "- **Next task:** T-003" in prompt.stdout
    ran = make("agent", "TASK=T-002")
    assert ran.returncode == 0, ran.stderr
    assert "- **Next task:** T-002" in json.loads((tmp_path / "record.json").read_text())["argv"][-1]
    status = make("agent-status")
    assert "sess-001" in status.stdout
    failing = make("agent", "TASK=T-001")
    assert failing.returncode != 0
    assert "task T-001 is done and cannot be run" in failing.stderr


def test_the_wheel_carries_the_templates(tmp_path: Path) -> None:
    """Build sdist and wheel (the wheel from the sdist), install it in a new venv, use it outside the repo."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mosaic_invoke.session.prompt as p; print(p.packaged_templates())"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(venv))
    for args in (["init"], ["run", "--print-only"]):
        result = subprocess.run(
            [str(venv / "bin" / "mosaic-coord"), *args],
            cwd=outside,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    assert "## Continuation Mission" in result.stdout


def test_mosaic_coord_caches_the_bytecode_of_what_it_imports_late(project: Path, tmp_path: Path) -> None:
    """Invoke turns bytecode writing off; mosaic-coord turns it back on once its config files
    are loaded, so Jinja2 and the runner compile once, not on every run, where no installer
    compiled them. A project's invoke.py config still leaves no .pyc behind."""
    cache = tmp_path / "pycache"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    (project / "invoke.py").write_text("coord = {'runtime': 'codex'}\n")
    result = subprocess.run(
        [str(BIN / "mosaic-coord"), "run", "--print-only", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert runtime_of(result) == "codex"  # the invoke.py config was read
    compiled = [path.relative_to(cache) for path in cache.rglob("*.pyc")]
    assert any(path.parent.name == "jinja2" and path.name.startswith("environment.") for path in compiled)
    assert any(path.parent.name == "session" and path.name.startswith("runner.") for path in compiled)
    assert not any(path.name.startswith("invoke.") and path.parent.name != "invoke" for path in compiled)
    assert not (project / "__pycache__").exists()


@pytest.mark.parametrize("program", ["invoke", "mosaic-coord"])
def test_a_reader_that_went_away_ends_the_command_quietly(project: Path, program: str) -> None:
    """`invoke coord.status | head`: stdout's reader is gone before the command writes."""
    write_guides(project)  # no warning on stderr either
    (project / "tasks.py").write_text(PROJECT_TASKS)
    read_end, write_end = os.pipe()
    os.close(read_end)
    args = ["coord.status"] if program == "invoke" else ["status"]
    try:
        result = subprocess.run(
            [str(BIN / program), *args], cwd=project, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (1, "")
