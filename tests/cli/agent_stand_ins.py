"""Stand-in `claude` and `codex` on PATH: the replay agent under the presets' names.

coord then launches exactly the built-in presets' argv; FAKE_AGENT_* variables (see
tests/streams/replay_agent.py) choose the event stream each plays.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from conftest import sessions

STREAMS = Path(__file__).resolve().parent.parent / "streams"
REPLAY = STREAMS / "replay_agent.py"
ORCH = Path(".mosaic") / "orchestrator"
REPLAY_COMMAND = f"{sys.executable} {REPLAY}"
TIMEOUT_AFTER_SPEAKING = "5s"
"""A session timeout for a hanging stand-in that must have spoken first (its session id, a
limit): its start-up and first lines take a fraction of a second, even on a loaded machine."""


def stand_ins(folder: Path) -> dict[str, str]:
    """Write `claude` and `codex` into ``folder``; the environment that puts them first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("claude", "codex"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{REPLAY}" "$@"\n')
        script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def replay(stream: str, **settings: object) -> dict[str, str]:
    """The FAKE_AGENT_* variables: the stream to play, and e.g. ``delay=0.05, exit=1, hang=1``."""
    return {"FAKE_AGENT_STREAM": stream, **{f"FAKE_AGENT_{k.upper()}": str(v) for k, v in settings.items()}}


def agent_env(tmp_path: Path, stream: str, **settings: object) -> dict[str, str]:
    """Stand-ins on PATH playing ``stream``; each launch recorded in ``tmp_path/agent.json``."""
    settings.setdefault("record", tmp_path / "agent.json")
    return {**stand_ins(tmp_path / "bin"), **replay(stream, **settings)}


def launched(tmp_path: Path) -> dict[str, Any]:
    """What the last stand-in was started with: argv, env, stdin."""
    facts: dict[str, Any] = json.loads((tmp_path / "agent.json").read_text())
    return facts


def state(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ORCH / "state.json").read_text())
    return data


def ended(root: Path) -> bool:
    """Every session recorded has ended and its lock is gone (a detached one too)."""
    found = sessions(root)
    return bool(found) and all("ended_at" in s for s in found) and not (root / ORCH / "session.lock").exists()


def set_permissions(root: Path, level: str) -> None:
    config = root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + f"permissions: {level}\n")
