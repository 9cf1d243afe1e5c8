"""``mosaic-coord``: the coord tasks as a program of their own, built on ``invoke.Program``."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from ._exceptions import CoordError
from ._mission import find_mission_file, project_root
from .collection import make_collection


class CoordProgram(Program):
    """Loads the project's ``invoke.yaml`` (``Program(namespace=...)`` alone never does) and
    exits 2 on wrong usage, where Invoke's parser exits 1."""

    def print_version(self) -> None:
        from . import __version__

        # Looked up here, not at start-up: reading package metadata costs every command time.
        self.version = __version__
        super().print_version()

    def parse_core(self, argv: list[str] | None) -> None:
        try:
            super().parse_core(argv)
        except ParseError as error:
            raise Exit(str(error), code=2) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as error:
            raise Exit(str(error), code=2) from None

    def execute(self) -> None:
        # Invoke turns bytecode writing off so that loading a tasks.py leaves no .pyc beside
        # it. By now every config file is loaded, and mosaic-coord loads no tasks module:
        # give the interpreter its own setting back, or what the commands import lazily
        # (Jinja2, the runner) compiles from source on every run where no installer compiled it.
        sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
        super().execute()

    def parse_collection(self) -> None:
        super().parse_collection()
        try:
            root = project_root(find_mission_file(Path.cwd()))
        except CoordError:
            root = Path.cwd()
        self.config.set_project_location(str(root))
        self.config.load_project()


def make_program() -> Program:
    return CoordProgram(namespace=make_collection(), name="mosaic-coord", binary="mosaic-coord")


def main() -> None:
    make_program().run()
