"""Reading a YAML file as nodes, so that every problem found in it names its line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import collector_paused, display_path, read_text

# The C loader is several times faster; PyYAML falls back to pure Python without libyaml.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

T = TypeVar("T")
Entries = dict[str, tuple[yaml.Node, yaml.Node]]
"""A mapping node's entries: key -> (key node, value node)."""
_DRIVE = re.compile(r"[A-Za-z]:([\\/]|$)")
# The errors a plain value that needs quotes causes, and a `key: value` line (comment apart).
_NEEDS_QUOTES = (
    "mapping values are not allowed",
    "found character that cannot start any token",
    "found undefined alias",
    "block sequence entries are not allowed",
)
_KEY_VALUE = re.compile(r"^\s*(?:- )?(?P<key>[\w.-]+):[ \t]+(?P<value>[^\s#].*?)\s*(?:\s#.*)?$")


def check_yaml(
    path: Path, what: str, check: Callable[[NodeChecker, yaml.Node | None], T], *, text: str | None = None
) -> T:
    """Compose ``path`` (whose ``text`` the caller may have read) and hand its root node to
    ``check``; raise every problem it found at once."""
    label = display_path(path)
    if text is None:
        text = read_text(path, what)
    loader = _Loader(text)
    checker = NodeChecker(label, loader)
    try:
        with collector_paused():  # a node per value, none in a cycle: 200k milestones are a million
            root = loader.get_single_node()
            if "<<" in text:
                _merge_keys(root)
            result = check(checker, root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = exc.problem or exc.context or ""
        lines = text.split("\n")
        hint = _quote_hint(problem, lines[mark.line] if mark and mark.line < len(lines) else "")
        msg = f"{where}: invalid YAML: {problem}{hint}"
        raise CoordError(msg) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        msg = f"{label}:{line}: invalid YAML: character {character!r} is not allowed; remove it"
        raise CoordError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{label}: invalid YAML: {' '.join(str(exc).split())}"
        raise CoordError(msg) from None
    finally:
        loader.dispose()
    if checker.problems:
        raise CoordError.from_problems(sorted(checker.problems, key=lambda problem: _line(label, problem)))
    return result


_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


def _merge_keys(root: yaml.Node | None) -> None:
    """Resolve merge keys (``<<: *defaults``) in place, as the YAML merge type says: a key written
    in the mapping itself wins, then the merged mappings in their order, the first one first."""
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)] if root is not None else []
    while stack:  # children first: a merged mapping is resolved before the one it is merged in
        node, children_done = stack.pop()
        if children_done:
            if isinstance(node, yaml.MappingNode):
                _merge(node)
            continue
        if id(node) in entered:
            continue
        entered.add(id(node))
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            stack.extend((part, False) for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, False) for item in node.value)


def _merge(node: yaml.MappingNode) -> None:
    own = [(key, value) for key, value in node.value if key.tag != _MERGE]
    if len(own) == len(node.value):
        return
    named = {_name(key) for key, _ in own}
    merged = []
    for key, value in node.value:
        if key.tag != _MERGE:
            continue
        for source in value.value if isinstance(value, yaml.SequenceNode) else [value]:
            if not isinstance(source, yaml.MappingNode):
                raise yaml.constructor.ConstructorError(
                    None, None, f"`<<` merges a mapping or a list of mappings, not a {source.id}", source.start_mark
                )
            for pair in source.value:
                if _name(pair[0]) not in named:
                    named.add(_name(pair[0]))
                    merged.append(pair)
    node.value = [*merged, *own]


def _name(key: yaml.Node) -> tuple[str, str] | int:
    return (key.tag, key.value) if isinstance(key, yaml.ScalarNode) else id(key)


def _quote_hint(problem: str, line: str) -> str:
    """What to do when a plain value broke the YAML: `: ` or ` #` inside it, or a first
    character YAML keeps for itself (``@``, a backtick, ``*``, ``%``, ``-``): quote it."""
    if not problem.startswith(_NEEDS_QUOTES):
        return ""
    found = _KEY_VALUE.match(line)
    if found is None:
        return "; quote the value"
    value = found["value"].replace("\\", "\\\\").replace('"', '\\"')
    return f'; quote the value: {found["key"]}: "{value}"'


def _line(label: str, problem: str) -> int:
    line = problem[len(label) + 1 :].split(":", 1)[0]
    return int(line) if line.isdigit() else 0


class NodeChecker:
    """Checks YAML nodes one by one, collecting each problem with its file and line."""

    def __init__(self, label: str, loader: Any) -> None:
        self.label = label
        self.loader = loader
        self.problems: list[str] = []

    def problem(self, node: yaml.Node, key: str, text: str) -> None:
        self.problems.append(f"{self.label}:{node.start_mark.line + 1}: `{key}`: {text}")

    def value(self, node: yaml.Node) -> Any:
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            return node.value  # what the constructor makes of it, without its bookkeeping
        return self.loader.construct_object(node, deep=True)

    def keys(self, node: yaml.Node) -> list[Any]:
        if not isinstance(node, yaml.MappingNode):
            return []
        return [self.value(key) for key, _ in node.value]

    def mapping(self, node: yaml.Node | None, where: str, allowed: tuple[str, ...]) -> Entries | None:
        """Keys of a mapping node, with duplicate and unknown keys reported."""
        if not isinstance(node, yaml.MappingNode):
            line = node.start_mark.line + 1 if node is not None else 1
            self.problems.append(f"{self.label}:{line}: `{where or 'mission'}`: expected a mapping")
            return None
        entries: Entries = {}
        prefix = f"{where}." if where else ""
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                self.problem(key_node, f"{prefix}{key}", "keys must be strings")
                continue
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                self.problem(key_node, prefix + key, f"duplicate key (first set on line {first})")
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else f"; known keys: {', '.join(allowed)}"
                self.problem(key_node, prefix + key, f"unknown key{hint}")
                continue
            entries[key] = (key_node, value_node)
        return entries

    def string(self, entries: Entries, key: str, where: str, owner: yaml.Node, *, required: bool = False) -> str | None:
        """The string at ``key``; None (and a problem if ``required``) when missing or empty."""
        if key not in entries:
            if required:
                self.problem(owner, where + key, "required")
            return None
        value_node = entries[key][1]
        value = self.value(value_node)
        if value is None or value == "":
            if required:
                self.problem(value_node, where + key, "required; give a value")
            return None
        if not isinstance(value, str):
            kind = type(value).__name__
            self.problem(value_node, where + key, f"must be a string, not {kind}; quote it")
            return None
        return value

    def choice(self, entries: Entries, key: str, where: str, owner: yaml.Node, choices: tuple[str, ...]) -> str | None:
        value = self.string(entries, key, where, owner)
        if value is not None and value not in choices:
            self.problem(entries[key][1], where + key, f"unknown value {value!r}; use one of {', '.join(choices)}")
            return None
        return value

    def boolean(self, entries: Entries, key: str, where: str) -> bool | None:
        if key not in entries:
            return None
        value = self.value(entries[key][1])
        if value is not None and not isinstance(value, bool):
            self.problem(entries[key][1], where + key, "must be true or false")
            return None
        return value

    def posix_path(self, node: yaml.Node, key: str, value: str) -> bool:
        """Whether ``value`` is a path as written here: one written the Windows way names a file
        that is not there, or makes a folder named ``C:\\mosaic\\orch``."""
        if _DRIVE.match(value):
            self.problem(
                node,
                key,
                f"`{value}` is a Windows path; write a path relative to the project root, or one starting with /",
            )
            return False
        if "\\" in value:
            self.problem(
                node, key, f"`{value}` has a backslash; write paths with /, as in {value.replace(chr(92), '/')}"
            )
            return False
        return True
