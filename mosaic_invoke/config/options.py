"""What a session is asked to do: the flags of `run`, `resume` and each step of `loop`, config merged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mosaic_invoke.agents.runtimes import RuntimeSpec


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What ``run``, ``resume`` and each step of ``loop`` were asked, flags and config merged."""

    task: str | None = None
    runtime: str | None = None
    milestone: str | None = None
    print_only: bool = False
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None
    configured_template: str | None = None
    runtimes: Mapping[str, RuntimeSpec] = field(default_factory=dict)
    force: bool = False
    detach: bool = False
    session_timeout: float | None = None
    idle_timeout: float | None = None
    fresh: bool = False
    """Start a new agent conversation even where the previous one could be resumed."""
    unattended: bool = False
    """Nobody at the terminal (loops, detached sessions): the agent's stdin is /dev/null."""
