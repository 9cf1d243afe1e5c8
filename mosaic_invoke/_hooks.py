"""mission.yaml hooks: shell commands told about each session and each loop, never fatal."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from ._mission import Mission

HOOK_TIMEOUT = 600.0


def hook_env(mission: Mission, **values: str) -> dict[str, str]:
    """The environment hooks (and gates) run in: coord's, with the mission named."""
    return {**os.environ, "MOSAIC_MISSION_ID": mission.id, **values}


def run_hook(
    mission: Mission, name: str, payload: Mapping[str, Any], env: Mapping[str, str], report: Callable[[str], None]
) -> None:
    """Run hook ``name`` (``after_session``, ``after_loop``) with ``payload`` as JSON on stdin.

    Its output goes to coord's standard error; a failure is reported and goes no further.
    """
    command = getattr(mission.hooks, name)
    if not command:
        return
    try:
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=mission.root,
            env={**env, "MOSAIC_HOOK": name},
            input=json.dumps(payload, ensure_ascii=False).encode(),
            stdout=2,  # coord's standard error: its stdout may be a JSON object (`--json`)
            timeout=HOOK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        report(f"warning: hook {name} (`{command}`) ran past {int(HOOK_TIMEOUT)} s and was stopped")
        return
    except OSError as exc:
        report(f"warning: hook {name} (`{command}`) could not run: {exc.strerror}")
        return
    if result.returncode != 0:
        report(f"warning: hook {name} (`{command}`) failed (exit {result.returncode}); carrying on")
