"""The errors a user can fix, and the exit codes they map to."""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar

PROGRAM: ContextVar[str] = ContextVar("program", default="invoke coord.")
"""How the user reaches coord's commands: `invoke coord.` or `mosaic-coord `."""


def command(name: str) -> str:
    """The command ``name`` as the user types it (``invoke coord.resume``, ``mosaic-coord resume``)."""
    return PROGRAM.get() + name


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


class SessionActive(CoordError):
    """A live agent session blocks the action (exit code 3)."""

    exit_code = 3
