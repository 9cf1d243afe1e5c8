"""mission.yaml hooks: shell commands told about each session and each loop, never fatal."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.session.process import exit_status
from mosaic_invoke.store.files import json_bytes

HOOK_TIMEOUT = 600.0
_STDERR = 2


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
            input=json_bytes(payload),
            stdout=_STDERR,  # never coord's stdout: with --json that holds coord's object only
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
        report(f"warning: hook {name} (`{command}`) failed (exit {exit_status(result.returncode)}); carrying on")
