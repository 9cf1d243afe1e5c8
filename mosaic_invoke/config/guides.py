"""The files the prompt points the agent at (manifest, scratchpad, protocol): what init writes
in them, and a note on those that are missing."""

from __future__ import annotations

from typing import Any

from mosaic_invoke.config.mission import Mission

GUIDE_KEYS = ("manifest_file", "scratchpad_file", "protocol_file")
"""mission.yaml's keys for them, in the prompt's order."""
PROTOCOL_FILE = ".mosaic/PROTOCOL.md"
"""Where init writes the project's own protocol."""

_PROTOCOL = """\
# Protocol

How an agent session works in this project. The continuation prompt points every session
here (mission.yaml's `protocol_file`); edit it to fit the project.

## One task, one claim
- Work on the task the prompt names; coord has set it to `in-progress` in `{tasks_file}`.
- Claim that one task, once: change its status cell and no other cell or line of that file.

## Two-phase completion: what "done" means
1. Finish the work, then run the quality gates (`quality_gates` or `verify:` in
   `.mosaic/mission.yaml`) until they pass.
2. Only then set the task's status cell to `done`, and commit your work, the tasks file
   with it, naming the task id in the message.

If the gates fail or the task cannot be finished, leave it `in-progress` (or set `blocked`
when it waits on something outside it) and say why in the scratchpad. coord checks every
claim: when the mission has gates, it runs them after the session, and a task whose gates
fail is put back to `in-progress`.

## The scratchpad
Before you end, add a short entry to the scratchpad, `{scratchpad_file}`:
the task, what you did, what you decided and why, and what the next session should know.
"""

_MANIFEST = """\
# {name}: manifest

The mission's scope, for every agent session (the prompt points here). Mission id:
`{id}`; its tasks are in `{tasks_file}`.

## Goal
What this mission delivers, in a few sentences.

## Milestones
{milestones}

## Out of scope
What the sessions must leave alone.
"""

_SCRATCHPAD = """\
# {name}: scratchpad

Session notes, newest last. Each session adds a short entry: the task, what was done,
what was decided and why, and what the next session should know.
"""


def guide_texts(mission: dict[str, Any]) -> dict[str, str]:
    """What init writes in each file the prompt names, by path, for the mission.yaml it writes
    (``mission`` as YAML reads it; a path left out there is the default)."""
    paths = {
        "tasks_file": mission.get("tasks_file", "docs/TASKS.md"),
        "manifest_file": mission.get("manifest_file", "docs/MISSION-MANIFEST.md"),
        "scratchpad_file": mission.get("scratchpad_file", f"docs/scratchpads/{mission['id']}.md"),
    }
    milestones = "\n".join(f"- {m['id']}: {m['name']}" for m in mission.get("milestones") or ())
    values = {**paths, "id": mission["id"], "name": mission["name"], "milestones": milestones or "- (none yet)"}
    return {
        mission.get("protocol_file", PROTOCOL_FILE): _PROTOCOL.format(**values),
        paths["manifest_file"]: _MANIFEST.format(**values),
        paths["scratchpad_file"]: _SCRATCHPAD.format(**values),
    }


def missing_guides(mission: Mission) -> str | None:
    """A note naming the files the prompt points the agent at that do not exist, and the keys
    that name them; None when all are there. A path that cannot even be looked at (too long,
    not readable) is not called missing."""
    absent: dict[str, list[str]] = {}
    for key in GUIDE_KEYS:
        name = getattr(mission, key)
        try:
            if name in absent or not mission.resolve(name).exists():
                absent.setdefault(name, []).append(key)
        except OSError:
            pass
    if not absent:
        return None
    keys = [f"`{key}`" for names in absent.values() for key in names]
    which = "which do not exist yet; write them" if len(absent) > 1 else "which does not exist yet; write it"
    named = keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} or {keys[-1]}"
    return f"the prompt points the agent at {', '.join(absent)}, {which}, or point mission.yaml's {named} elsewhere"
