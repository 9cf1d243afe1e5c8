"""Records stored as JSON (sessions, locks, loops): one field list per record, checked on read."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

from mosaic_invoke.store.files import display_path

R = TypeVar("R")

# What an annotation's first part says a JSON value must be; `extra` (unknown fields) is not stored as such.
_JSON_TYPES: Mapping[str, type] = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": float,
    "list": list,
    "tuple": list,
    "Mapping": dict,
    "dict": dict,
}
_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def present_fields(record: Any) -> dict[str, Any]:
    """A dataclass's stored fields that are set, shallowly (``asdict`` cannot copy mapping proxies)."""
    values = ((f.name, getattr(record, f.name)) for f in fields(record) if f.name != "extra")
    return {name: value for name, value in values if value is not None}


def schema(record_class: type) -> tuple[dict[str, type], tuple[str, ...]]:
    """The stored fields of a dataclass: each field's JSON type, and the required ones.

    Read from the class's annotations (``int | None`` is an optional integer), so that a
    record's field list is written once, in its class.
    """
    types: dict[str, type] = {}
    required: list[str] = []
    for spec in fields(record_class):
        base = str(spec.type).split(" |")[0].split("[")[0].strip()
        if spec.name == "extra" or base not in _JSON_TYPES:
            continue
        types[spec.name] = _JSON_TYPES[base]
        if spec.default is MISSING and spec.default_factory is MISSING:
            required.append(spec.name)
    return types, tuple(required)


def typed_fields(
    data: Mapping[str, Any], types: Mapping[str, type], required: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """Split ``data`` into known fields (type-checked) and extra ones, or say what is wrong."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        expected = types.get(key)
        if expected is None:
            extra[key] = value
        elif value is None and key not in required:
            continue
        elif not _is(value, expected):
            return f"`{key}` must be {_NAMES[expected]}"
        else:
            known[key] = value
    missing = [key for key in required if key not in known]
    if missing:
        return f"`{missing[0]}` is missing"
    return known, extra


def _is(value: Any, expected: type) -> bool:
    if isinstance(value, bool):
        return expected is bool
    if expected is float:  # neither NaN nor Infinity, which JSON has not and no total can hold
        return isinstance(value, (int, float)) and -math.inf < value < math.inf
    return isinstance(value, expected)


def decode_json(raw: bytes) -> Any:
    """``raw`` (UTF-8) as JSON. Every problem in it is a `json.JSONDecodeError` naming its line,
    also a number Python will not convert (an integer of over 4,300 digits)."""
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        limit = sys.get_int_max_str_digits()
        found = re.search(rf"\d{{{limit + 1},}}", text) if limit else None
        if found is None:
            raise json.JSONDecodeError(str(exc), text, 0) from None
        problem = f"a number of {found.end() - found.start():,} digits; the most is {limit:,}"
        raise json.JSONDecodeError(problem, text, found.start()) from None


def read_record(path: Path, build: Callable[..., R], what: str) -> tuple[R | None, str | None]:
    """The record in the JSON file ``path`` (None when there is none), built from its fields by
    ``build`` (a record dataclass); a damaged file is treated as absent, with a warning."""
    types, required = schema(build)  # type: ignore[arg-type]
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{display_path(path)}: cannot read {what} ({exc.strerror}); treated as absent"
    try:
        data = decode_json(raw)
    except json.JSONDecodeError as exc:
        return None, f"{display_path(path)}:{exc.lineno}: {what} is not valid JSON ({exc.msg}); treated as absent"
    except (UnicodeDecodeError, RecursionError):
        return None, f"{display_path(path)}: {what} is not valid JSON; treated as absent"
    if not isinstance(data, dict):
        return None, f"{display_path(path)}: {what} is not a JSON object; treated as absent"
    fields = typed_fields(data, types, required)
    if isinstance(fields, str):
        return None, f"{display_path(path)}: {what} is damaged ({fields}); treated as absent"
    return build(**fields[0]), None
