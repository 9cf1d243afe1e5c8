"""A state.json that is not coord's own, checked: its records' identities, its summary's shape."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from mosaic_invoke.store.records import schema, typed_fields
from mosaic_invoke.store.session import EMPTY_SUMMARY, Session

SESSION_FIELDS, SESSION_REQUIRED = schema(Session)


def summary_sound(summary: Any) -> bool:
    """Whether ``summary`` has the keys and types coord writes (else it is computed anew)."""
    if not isinstance(summary, dict) or summary.keys() != EMPTY_SUMMARY.keys():
        return False
    counts = [summary[key] for key in EMPTY_SUMMARY if key not in ("cost_usd", "by_milestone")]
    by_milestone = summary["by_milestone"]
    return (
        all(type(value) is int for value in counts)
        and type(summary["cost_usd"]) in (int, float)
        and isinstance(by_milestone, dict)
        and all(type(value) in (int, float) for value in by_milestone.values())
    )


def check_decoded(data: Any) -> list[dict[str, Any]] | str:
    """The session records of a decoded state, or what is wrong with it.

    Every record needs its identity (checked a field at a time, in C: a mission has
    thousands); the other fields are checked when a command reads that session.
    """
    if not isinstance(data, dict):
        return "expected a JSON object"
    records = data.get("sessions", [])
    if not isinstance(records, list):
        return "`sessions` must be a list"
    if not identities_valid(records):
        for index, item in enumerate(records):
            if not isinstance(item, dict):
                return f"sessions[{index}] must be an object"
            identity = {key: item[key] for key in SESSION_REQUIRED if key in item}
            fields = typed_fields(identity, SESSION_FIELDS, SESSION_REQUIRED)
            if isinstance(fields, str):
                return f"sessions[{index}]: {fields}"
    ids = [item["session_id"] for item in records]
    if len(set(ids)) != len(ids):
        seen: dict[str, int] = {}
        for index, session_id in enumerate(ids):
            if session_id in seen:
                return f"duplicate session id {session_id} (sessions[{seen[session_id]}] and sessions[{index}])"
            seen[session_id] = index
    if not isinstance(data.get("status", "pending"), str):
        return "`status` must be a string"
    loops = data.get("loops", [])
    if not isinstance(loops, list) or not all(isinstance(item, dict) for item in loops):
        return "`loops` must be a list of objects"
    return records


def identities_valid(records: list[Any]) -> bool:
    """Whether every record is an object with the required fields, of the right types:
    a field at a time, in C (a mission has thousands of records)."""
    if set(map(type, records)) - {dict}:
        return False
    try:
        for key in SESSION_REQUIRED:
            # `type(...) is`, not isinstance: True is no pid.
            if set(map(type, map(itemgetter(key), records))) - {SESSION_FIELDS[key]}:
                return False
    except KeyError:
        return False
    return True
