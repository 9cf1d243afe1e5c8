"""mission.yaml `verify:`: the gates, and the reviewer agent, that judge a task an agent marked done."""

from __future__ import annotations

import math
from dataclasses import dataclass

import yaml

from mosaic_invoke.config.yamlcheck import NodeChecker
from mosaic_invoke.store.clock import parse_duration

GATES_TIMEOUT = 30 * 60.0
REVIEW_TIMEOUT = 10 * 60.0
_VERIFY_KEYS = ("command", "timeout", "require_change", "review")
_REVIEW_KEYS = ("runtime", "template", "timeout")


@dataclass(frozen=True, kw_only=True)
class Verify:
    """The gates that check a task an agent marked done: mission.yaml `verify:`."""

    command: str
    """Run by ``/bin/sh -c`` in the project root; exit 0 passes."""
    timeout: float = GATES_TIMEOUT
    """Seconds before the gates are killed (a failure)."""
    require_change: bool = False
    """Accept a claim only when HEAD moved or the work tree changed."""


@dataclass(frozen=True, kw_only=True)
class Review:
    """A second agent that reads a claim's diff once the gates pass: mission.yaml `verify: {review: ...}`."""

    runtime: str | None = None
    """The reviewer's runtime; None: another runtime than the worker's."""
    template: str | None = None
    """Its prompt's template, as written (from the project root); None: the project's or the packaged one."""
    timeout: float = REVIEW_TIMEOUT
    """Seconds before the reviewer is ended (no verdict: the claim is left to the gates)."""


def read_verify(
    nodes: NodeChecker, node: yaml.Node, quality_gates: str | None, *, gates_wrong: bool
) -> tuple[Verify | None, Review | None]:
    """The gates and the reviewer of `verify:`, each problem reported with its line."""
    if isinstance(node, yaml.ScalarNode):
        value = nodes.value(node)
        if value is None:
            return None, None
        if value != "quality_gates":
            nodes.problem(node, "verify", "expected `quality_gates` or a mapping, e.g. {command: make test}")
        elif quality_gates:
            return Verify(command=quality_gates), None
        elif not gates_wrong:
            nodes.problem(node, "verify", "`quality_gates` is not set; set it, or give {command: ...}")
        return None, None
    entries = nodes.mapping(node, "verify", _VERIFY_KEYS)
    if entries is None:
        return None, None
    review = _review(nodes, entries["review"][1]) if "review" in entries else None
    # A reviewer alone (no gates) is a `verify:` of its own; without one the gates are required.
    gates = nodes.string(entries, "command", "verify.", node, required="review" not in entries)
    timeout = _duration(nodes, entries["timeout"][1], "verify.timeout") if "timeout" in entries else GATES_TIMEOUT
    change = nodes.boolean(entries, "require_change", "verify.")
    if gates is None or timeout is None:
        return None, review
    return Verify(command=gates, timeout=timeout, require_change=bool(change)), review


def _review(nodes: NodeChecker, node: yaml.Node) -> Review | None:
    if isinstance(node, yaml.ScalarNode) and nodes.value(node) in (True, False, None):
        return Review() if nodes.value(node) is not False else None  # `review: true`: every default
    entries = nodes.mapping(node, "verify.review", _REVIEW_KEYS)
    if entries is None:
        return None
    runtime = nodes.string(entries, "runtime", "verify.review.", node)
    template = nodes.string(entries, "template", "verify.review.", node)
    if template is not None and not nodes.posix_path(entries["template"][1], "verify.review.template", template):
        return None
    timeout = (
        _duration(nodes, entries["timeout"][1], "verify.review.timeout") if "timeout" in entries else REVIEW_TIMEOUT
    )
    if timeout is None:
        return None
    return Review(runtime=runtime, template=template, timeout=timeout)


def _duration(nodes: NodeChecker, node: yaml.Node, key: str) -> float | None:
    seconds = parse_duration(nodes.value(node))
    if not seconds or not math.isfinite(seconds):
        nodes.problem(node, key, "expected a duration more than 0, e.g. 30m")
        return None
    return seconds
