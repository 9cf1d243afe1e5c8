"""mission.yaml: find the project root, load, validate into frozen values."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ._exceptions import CoordError
from ._files import display_path, expand_user, read_text
from ._runtimes import RuntimeSpec, parse_runtime

MISSION_FILE = Path(".mosaic") / "mission.yaml"

# The C loader is several times faster; PyYAML falls back to pure Python without libyaml.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class MilestoneStatus(str, enum.Enum):
    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    DONE = "done"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True)
class Milestone:
    """One milestone of mission.yaml."""

    id: str
    name: str
    status: MilestoneStatus | None = None
    """The status written in mission.yaml; None means derived from the tasks."""


@dataclass(frozen=True, kw_only=True)
class Verify:
    """mission.yaml `verify:`: the gates a task marked done must pass."""

    command: str
    timeout: float = 1800.0
    require_change: bool = False


@dataclass(frozen=True, kw_only=True)
class Hooks:
    """mission.yaml `hooks:`: shell commands run after each session and after a loop."""

    after_session: str | None = None
    after_loop: str | None = None


@dataclass(frozen=True, kw_only=True)
class Mission:
    """A validated mission.yaml. Path fields keep the text as written (the prompt shows it)."""

    root: Path
    config_path: Path
    id: str
    name: str
    orchestrator_dir: str = ".mosaic/orchestrator"
    tasks_file: str = "docs/TASKS.md"
    manifest_file: str = "docs/MISSION-MANIFEST.md"
    scratchpad_file: str = ""
    protocol_file: str = "~/.config/mosaic/guides/ORCHESTRATOR.md"
    quality_gates: str | None = None
    runtime: str | None = None
    template: str | None = None
    runtimes: Mapping[str, RuntimeSpec] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    milestones: tuple[Milestone, ...] = ()
    permissions: str = "workspace"
    verify: Verify | None = None
    hooks: Hooks = Hooks()
    loop: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, value: str) -> Path:
        """A path from mission.yaml: absolute (or ``~``) as written, else under the root."""
        path = expand_user(value)
        return path if path.is_absolute() else self.root / path

    @property
    def project_path(self) -> str:
        return str(self.root)

    @property
    def orchestrator_path(self) -> Path:
        return self.resolve(self.orchestrator_dir)

    @property
    def tasks_path(self) -> Path:
        return self.resolve(self.tasks_file)

    def milestone(self, milestone_id: str | None) -> Milestone | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)


def find_mission_file(start: Path) -> Path:
    """Walk up from ``start`` to the first folder holding ``.mosaic/mission.yaml``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / MISSION_FILE
        if candidate.is_file():
            return candidate
    msg = (
        f"no {MISSION_FILE} in {start} or any folder above it; "
        "run `invoke coord.init` to create one, or pass --mission PATH"
    )
    raise CoordError(msg)


def locate_mission(mission: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """The mission.yaml to use: an explicit file or project folder, else found from ``cwd``."""
    cwd = cwd or Path.cwd()
    if not mission:
        return find_mission_file(cwd)
    path = (cwd / expand_user(mission)).resolve()
    if path.is_dir():
        path = path / MISSION_FILE
    if not path.is_file():
        msg = f"{path}: mission file not found; pass a mission.yaml or a folder holding {MISSION_FILE}"
        raise CoordError(msg)
    return path


def project_root(mission_file: Path) -> Path:
    """``<root>/.mosaic/mission.yaml`` belongs to ``<root>``; any other file to its folder."""
    folder = mission_file.parent
    return folder.parent if folder.name == ".mosaic" else folder


def load_mission(mission_file: Path) -> Mission:
    """Parse and validate ``mission_file``, reporting every problem at once."""
    label = display_path(mission_file)
    text = read_text(mission_file, "mission file")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        checker = _Checker(label, loader)
        values = checker.mission(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        msg = f"{where}: invalid YAML: {exc.problem or exc.context}"
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
        raise CoordError.from_problems(checker.problems)
    values.setdefault("scratchpad_file", f"docs/scratchpads/{values['id']}.md")
    return Mission(root=project_root(mission_file), config_path=mission_file, **values)


_STRING_KEYS = (
    "orchestrator_dir",
    "tasks_file",
    "manifest_file",
    "scratchpad_file",
    "protocol_file",
    "quality_gates",
    "runtime",
    "template",
)
_MISSION_KEYS = ("id", "name", *_STRING_KEYS, "runtimes", "vars", "milestones")
_MILESTONE_KEYS = ("id", "name", "status")


class _Checker:
    """Walks the YAML nodes so that every problem carries the line it is on."""

    def __init__(self, label: str, loader: Any) -> None:
        self.label = label
        self.loader = loader
        self.problems: list[str] = []

    def problem(self, node: yaml.Node, key: str, text: str) -> None:
        self.problems.append(f"{self.label}:{node.start_mark.line + 1}: `{key}`: {text}")

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node | None, where: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Keys of a mapping node, with duplicate and unknown keys reported."""
        if not isinstance(node, yaml.MappingNode):
            line = node.start_mark.line + 1 if node is not None else 1
            self.problems.append(f"{self.label}:{line}: `{where or 'mission'}`: expected a mapping")
            return None
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
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
                import difflib

                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else f"; known keys: {', '.join(allowed)}"
                self.problem(key_node, prefix + key, f"unknown key{hint}")
                continue
            entries[key] = (key_node, value_node)
        return entries

    def string(
        self,
        entries: dict[str, tuple[yaml.Node, yaml.Node]],
        key: str,
        where: str,
        owner: yaml.Node,
        *,
        required: bool = False,
    ) -> str | None:
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

    def mission(self, node: yaml.Node | None) -> dict[str, Any]:
        entries = self.mapping(node, "", _MISSION_KEYS)
        if entries is None or node is None:
            return {}
        values: dict[str, Any] = {}
        for key in ("id", "name", *_STRING_KEYS):
            value = self.string(entries, key, "", node, required=key in ("id", "name"))
            if value is not None:
                values[key] = value
        if "runtimes" in entries:
            values["runtimes"] = self.runtimes(entries["runtimes"][1])
        if "vars" in entries:
            vars_node = entries["vars"][1]
            if self.mapping(vars_node, "vars", tuple(self._keys(vars_node))) is not None:
                values["vars"] = MappingProxyType(self.value(vars_node))
        if "milestones" in entries:
            values["milestones"] = self.milestones(entries["milestones"][1])
        return values

    def _keys(self, node: yaml.Node) -> list[Any]:
        if not isinstance(node, yaml.MappingNode):
            return []
        return [self.value(key) for key, _ in node.value]

    def runtimes(self, node: yaml.Node) -> Mapping[str, RuntimeSpec]:
        entries = self.mapping(node, "runtimes", tuple(str(k) for k in self._keys(node)))
        presets: dict[str, RuntimeSpec] = {}
        for name, (_, value_node) in (entries or {}).items():
            spec = parse_runtime(self.value(value_node))
            if isinstance(spec, str):
                self.problem(value_node, f"runtimes.{name}", spec)
            else:
                presets[name] = spec
        return MappingProxyType(presets)

    def milestones(self, node: yaml.Node) -> tuple[Milestone, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "milestones", "expected a list of {id, name} mappings")
            return ()
        milestones: list[Milestone] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(node.value):
            where = f"milestones[{index}]"
            entries = self.mapping(item, where, _MILESTONE_KEYS)
            if entries is None:
                continue
            milestone_id = self.string(entries, "id", f"{where}.", item, required=True)
            name = self.string(entries, "name", f"{where}.", item, required=True)
            status_text = self.string(entries, "status", f"{where}.", item)
            status = None
            if status_text is not None:
                try:
                    status = MilestoneStatus(status_text)
                except ValueError:
                    known = ", ".join(s.value for s in MilestoneStatus)
                    self.problem(
                        entries["status"][1], f"{where}.status", f"unknown status {status_text!r}; use one of {known}"
                    )
            if milestone_id is None or name is None:
                continue
            line = item.start_mark.line + 1
            if milestone_id in seen:
                self.problem(
                    item, f"{where}.id", f"duplicate milestone id {milestone_id!r} (first on line {seen[milestone_id]})"
                )
                continue
            seen[milestone_id] = line
            milestones.append(Milestone(id=milestone_id, name=name, status=status))
        return tuple(milestones)
