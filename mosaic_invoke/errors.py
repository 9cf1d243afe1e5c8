"""The errors a user can fix, the exit codes they map to, and the commands their hints name."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

# How the user reaches coord's commands: set by `mosaic-coord`, else taken from argv[0].
_PROGRAM: ContextVar[str | None] = ContextVar("mosaic_invoke_program", default=None)


class CoordError(Exception):
    """A problem the user can fix; reported as one line per problem, exit code 1."""

    exit_code = 1

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems: tuple[str, ...] = problems

    @classmethod
    def from_problems(cls, problems: Iterable[str]) -> CoordError:
        return cls(*problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class NoRunnableTask(CoordError):
    """No task can run now: all done, or waiting on others (a loop stops with `no-runnable-task`)."""


class AgentUnusable(CoordError):
    """The agent cannot start here (its program is missing or not executable): a loop stops with
    `agent-unusable` rather than try again."""


class SessionActive(CoordError):
    """A live agent session blocks the action (exit code 3)."""

    exit_code = 3


def command(name: str) -> str:
    """coord's command ``name`` as the user types it: ``mosaic-coord resume`` or ``invoke coord.resume``."""
    prefix = _PROGRAM.get()
    if prefix is None:
        prefix = "inv coord." if Path(sys.argv[0]).name == "inv" else "invoke coord."
    return prefix + name


@contextmanager
def commands_as(prefix: str) -> Iterator[None]:
    """Within the block, `command` names commands as ``prefix`` + name (``"mosaic-coord "``)."""
    token = _PROGRAM.set(prefix)
    try:
        yield
    finally:
        _PROGRAM.reset(token)
