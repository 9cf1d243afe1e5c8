"""mission.yaml: find the project root, load, validate into frozen values."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

from mosaic_invoke.config.caps import CAP_KEYS, Cap, read_cap
from mosaic_invoke.config.gates import Review, Verify, read_verify
from mosaic_invoke.config.locate import project_root
from mosaic_invoke.config.remote import REMOTE_KEYS, RemoteConfig, check_remote
from mosaic_invoke.config.yamlcheck import Entries, NodeChecker, check_yaml
from mosaic_invoke.store.files import display_path, expand_user, read_text

if TYPE_CHECKING:
    from mosaic_invoke.agents.runtimes import RuntimeSpec


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
class Hooks:
    """Shell commands run after a session is recorded and after a loop ends: mission.yaml `hooks:`."""

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
    permissions: str = "workspace"
    """What a preset agent may do: one of `PERMISSIONS`."""
    runtime_fallback: tuple[str, ...] = ()
    """Runtimes to switch to, in order, when one is held up by a usage limit or unusable."""
    verify: Verify | None = None
    review: Review | None = None
    """The reviewer agent of `verify: {review: ...}`, run once the gates pass."""
    hooks: Hooks = field(default_factory=Hooks)
    loop: Mapping[str, Cap] = field(default_factory=dict)
    """The caps set under `loop:`, read (durations in seconds); a cap not set is left out."""
    vars: Mapping[str, Any] = field(default_factory=dict)
    milestones: tuple[Milestone, ...] = ()
    remote: RemoteConfig | None = None
    """Claims and landing through a shared git remote (SPEC 16); None: one machine."""
    lines: Mapping[str, int] = field(default_factory=dict)
    """The line of each top-level key in mission.yaml, for messages."""

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
        return self._milestones_by_id.get(milestone_id)

    @functools.cached_property
    def _milestones_by_id(self) -> dict[str | None, Milestone]:
        # Found by id in one step: a report asks for each milestone it names, of 200k.
        return {milestone.id: milestone for milestone in self.milestones}

    def moved_to(self, root: Path) -> Mission:
        """The mission as seen from another checkout of its repository (a lane's worktree):
        its files there, coord's own folder where it is."""
        if root == self.root:
            return self
        return replace(self, root=root, orchestrator_dir=str(self.orchestrator_path))

    def with_runtimes(self, configured: Mapping[str, RuntimeSpec]) -> Mission:
        """The mission with the config's runtimes (`coord.runtimes`) beside its own, the config's
        first: everything that names a runtime (the worker, a fallback, the reviewer) finds them."""
        if not configured:
            return self
        return replace(self, runtimes={**self.runtimes, **configured})

    def runtime_problem(self, runtimes: Mapping[str, RuntimeSpec] | None = None) -> str | None:
        """Why a runtime mission.yaml names (`runtime`, each of `runtime_fallback`, the
        reviewer's) is no runtime (a preset, one of its `runtimes:`, or of ``runtimes`` from the
        config), at its line; None when each is one."""
        named = [("runtime", "runtime", self.runtime)]
        named += [("runtime_fallback", "runtime_fallback", name) for name in self.runtime_fallback]
        named.append(("verify", "verify.review.runtime", self.review.runtime if self.review else None))
        if not any(name for _, _, name in named):
            return None
        from mosaic_invoke.agents.runtimes import runtime_problem  # only where a runtime is named

        for key, label, name in named:
            problem = runtime_problem(name, {**self.runtimes, **(runtimes or {})}) if name else None
            if problem is not None:
                where = f"{display_path(self.config_path)}:{self.lines.get(key, 1)}"
                return f"{where}: `{label}`: {problem}; fix the name, or add it under `runtimes:`"
        return None


def load_mission(mission_file: Path) -> Mission:
    """Parse and validate ``mission_file``, reporting every problem at once. Its text is read each
    time; a text this process has read before is not parsed again (a run reads it twice, a
    loop once per session, and a mission of 200k milestones takes seconds to check)."""
    text = read_text(mission_file, "mission file")
    known = _loaded.get(mission_file)
    if known is not None and known[0] == text:
        return known[1]
    values = check_yaml(mission_file, "mission file", lambda checker, node: _Checker(checker).mission(node), text=text)
    values.setdefault("scratchpad_file", f"docs/scratchpads/{values['id']}.md")
    mission = Mission(root=project_root(mission_file), config_path=mission_file, **values)
    _loaded[mission_file] = (text, mission)
    return mission


_loaded: dict[Path, tuple[str, Mission]] = {}


_PATH_KEYS = ("orchestrator_dir", "tasks_file", "manifest_file", "scratchpad_file", "protocol_file", "template")
_STRING_KEYS = (*_PATH_KEYS, "quality_gates", "runtime")
_MISSION_KEYS = (
    "id",
    "name",
    *_STRING_KEYS,
    "permissions",
    "runtimes",
    "runtime_fallback",
    "verify",
    "hooks",
    "loop",
    "vars",
    "milestones",
    *REMOTE_KEYS,
)
_MILESTONE_KEYS = ("id", "name", "status")
_HOOK_KEYS = ("after_session", "after_loop")


class _Checker:
    """mission.yaml's keys, node by node, so that every problem carries the line it is on."""

    def __init__(self, nodes: NodeChecker) -> None:
        self.nodes = nodes

    def mission(self, node: yaml.Node | None) -> dict[str, Any]:
        nodes = self.nodes
        entries = nodes.mapping(node, "", _MISSION_KEYS)
        if entries is None or node is None:
            return {}
        values: dict[str, Any] = {
            "lines": MappingProxyType({key: value.start_mark.line + 1 for key, (_, value) in entries.items()})
        }
        for key in ("id", "name", *_STRING_KEYS):
            value = nodes.string(entries, key, "", node, required=key in ("id", "name"))
            if value is not None and (key not in _PATH_KEYS or nodes.posix_path(entries[key][1], key, value)):
                values[key] = value
        permissions = None
        if "permissions" in entries:  # the runtimes module only when mission.yaml needs it
            from mosaic_invoke.agents.runtimes import PERMISSIONS  # some 5 ms, for this key only

            permissions = nodes.choice(entries, "permissions", "", node, PERMISSIONS)
        if permissions is not None:
            values["permissions"] = permissions
        if "runtimes" in entries:
            values["runtimes"] = self.runtimes(entries["runtimes"][1])
        if "verify" in entries:
            # A `quality_gates` of the wrong type is reported already: not again as missing.
            gates = nodes.value(entries["quality_gates"][1]) if "quality_gates" in entries else None
            wrong = gates not in (None, "") and "quality_gates" not in values
            values["verify"], values["review"] = read_verify(
                nodes, entries["verify"][1], values.get("quality_gates"), gates_wrong=wrong
            )
        if "runtime_fallback" in entries:
            values["runtime_fallback"] = self.runtime_fallback(entries["runtime_fallback"][1])
        if "hooks" in entries:
            values["hooks"] = self.hooks(entries["hooks"][1])
        if "loop" in entries:
            values["loop"] = self.loop(entries["loop"][1])
        if "vars" in entries:
            vars_node = entries["vars"][1]
            if nodes.mapping(vars_node, "vars", tuple(nodes.keys(vars_node))) is not None:
                values["vars"] = MappingProxyType(nodes.value(vars_node))
        if "milestones" in entries:
            values["milestones"] = self.milestones(entries["milestones"][1])
        if any(key in entries for key in REMOTE_KEYS):
            values["remote"] = check_remote(nodes, entries, node)
        return values

    def runtimes(self, node: yaml.Node) -> Mapping[str, RuntimeSpec]:
        entries = self.nodes.mapping(node, "runtimes", tuple(str(k) for k in self.nodes.keys(node)))
        presets: dict[str, RuntimeSpec] = {}
        for name, (_, value_node) in (entries or {}).items():
            from mosaic_invoke.agents.runtimes import parse_runtime  # as above: only with `runtimes:`

            spec = parse_runtime(self.nodes.value(value_node))
            if isinstance(spec, str):
                self.nodes.problem(value_node, f"runtimes.{name}", spec)
            else:
                presets[name] = spec
        return MappingProxyType(presets)

    def runtime_fallback(self, node: yaml.Node) -> tuple[str, ...]:
        names = self.nodes.value(node)
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            self.nodes.problem(node, "runtime_fallback", "expected a list of runtime names, e.g. [claude, codex]")
            return ()
        twice = next((name for index, name in enumerate(names) if name in names[:index]), None)
        if twice is not None:
            self.nodes.problem(node, "runtime_fallback", f"`{twice}` is listed twice; list each runtime once")
            return ()
        return tuple(names)

    def hooks(self, node: yaml.Node) -> Hooks:
        entries = self.nodes.mapping(node, "hooks", _HOOK_KEYS) or {}
        commands = {key: self.nodes.string(entries, key, "hooks.", node) for key in _HOOK_KEYS}
        return Hooks(**commands)

    def loop(self, node: yaml.Node) -> Mapping[str, Cap]:
        caps: dict[str, Cap] = {}
        for key, (_, value_node) in (self.nodes.mapping(node, "loop", CAP_KEYS) or {}).items():
            value = self.nodes.value(value_node)
            if value is None:
                continue
            try:
                caps[key] = read_cap(key, value)
            except ValueError as error:
                self.nodes.problem(value_node, f"loop.{key}", str(error))
        return MappingProxyType(caps)

    def milestones(self, node: yaml.Node) -> tuple[Milestone, ...]:
        nodes = self.nodes
        if not isinstance(node, yaml.SequenceNode):
            nodes.problem(node, "milestones", "expected a list of {id, name} mappings")
            return ()
        milestones: list[Milestone] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(node.value):
            where = f"milestones[{index}]"
            entries = nodes.mapping(item, where, _MILESTONE_KEYS)
            if entries is None:
                continue
            milestone_id = nodes.string(entries, "id", f"{where}.", item, required=True)
            name = nodes.string(entries, "name", f"{where}.", item, required=True)
            status = self.milestone_status(entries, where, item)
            if milestone_id is None or name is None:
                continue
            if milestone_id in seen:
                nodes.problem(
                    item, f"{where}.id", f"duplicate milestone id {milestone_id!r} (first on line {seen[milestone_id]})"
                )
                continue
            seen[milestone_id] = item.start_mark.line + 1
            milestones.append(Milestone(id=milestone_id, name=name, status=status))
        return tuple(milestones)

    def milestone_status(self, entries: Entries, where: str, item: yaml.Node) -> MilestoneStatus | None:
        text = self.nodes.string(entries, "status", f"{where}.", item)
        if text is None:
            return None
        try:
            return MilestoneStatus(text)
        except ValueError:
            known = ", ".join(s.value for s in MilestoneStatus)
            self.nodes.problem(entries["status"][1], f"{where}.status", f"unknown status {text!r}; use one of {known}")
            return None
