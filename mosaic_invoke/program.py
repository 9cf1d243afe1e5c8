"""The coord tasks as a program of their own (``mosaic-coord``), built on ``invoke.Program``."""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from invoke.config import AmbiguousMergeError, Config
from invoke.env import Environment
from invoke.exceptions import AmbiguousEnvVar, Exit, ParseError, UncastableEnvVar
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.parser.parser import Parser
from invoke.program import Program
from invoke.util import enable_logging

from mosaic_invoke.collection import make_collection
from mosaic_invoke.config.locate import find_mission_file, locate_mission, project_root
from mosaic_invoke.errors import CoordError, commands_as

# Invoke's core options that mean something without shell commands to run. The others
# (--pty, --dry, --echo, --hide, --warn-only, -T, --prompt-for-sudo-password, --write-pyc)
# set options of Invoke's `run()`, which coord never calls: mosaic-coord refuses them. The
# kept ones lose the short flags -d, -f and -l, which mean --detach, --force and --template
# in every command.
_CORE = {
    "complete": (),
    "config": (),
    "debug": (),
    "help": ("h",),
    "list": (),
    "list-depth": ("D",),
    "list-format": ("F",),
    "print-completion-script": (),
    "version": ("V",),
}

_UNKNOWN = re.compile(r"No idea what '(.+)' is!")
"""Invoke's parser's message for a word it does not know."""

_CONFIG_CLASH = (
    "config: a coord setting is a mapping in one place and a single value in another "
    "(a config file, ns.configure, INVOKE_COORD_*); write it one way"
)


class CoordConfig(Config):
    """Invoke's config, whose merge and environment errors are one-line coord errors."""

    def merge(self) -> None:
        try:
            super().merge()
        except AmbiguousMergeError:
            raise Exit(f"coord: error: {_CONFIG_CLASH}", code=1) from None

    def load_shell_env(self) -> None:
        # Invoke's own, with coord's variables kept as written (see _Environment).
        self.merge()
        try:
            self._set(_env=_Environment(config=self._config, prefix=self._env_prefix).load())
        except AmbiguousEnvVar as error:
            msg = f"coord: error: config: {error}; set one of them"
            raise Exit(msg, code=1) from None
        self.merge()


class _Environment(Environment):
    """Invoke's reader of ``INVOKE_*`` variables, which casts a variable to the type of the value
    a config file holds (``int("none")`` fails over ``max_sessions: 5``). A ``coord`` variable is
    kept as written: coord reads every value of its own (``none``, ``8h``, a command line), and
    names the variable when one is wrong."""

    def _path_set(self, key_path: Sequence[str], value: str) -> None:
        if key_path[0] != "coord":
            try:
                super()._path_set(key_path, value)
            except (UncastableEnvVar, ValueError):
                name = (self._prefix or "") + self._to_env_var(key_path)
                old = type(self._path_get(key_path)).__name__
                msg = f"coord: error: {name}: cannot replace the {old} a config file holds; write it there as a string"
                raise Exit(msg, code=1) from None
            return
        place = self.data
        for key in key_path[:-1]:
            place = place.setdefault(key, {})
        place[key_path[-1]] = value


class CoordProgram(Program):
    """Loads the project's ``invoke.yaml`` (``Program(namespace=...)`` alone never does), exits 2
    on wrong usage (Invoke's parser exits 1), offers only the core options that do something,
    and makes coord's hints name ``mosaic-coord``."""

    def core_args(self) -> list[Argument]:
        kept = []
        for argument in super().core_args():
            if argument.name in _CORE:
                argument.names = (argument.name, *_CORE[argument.name])
                kept.append(argument)
        return kept

    def run(self, argv: list[str] | None = None, exit: bool = True) -> None:
        with commands_as("mosaic-coord "):
            super().run(argv, exit)

    def print_version(self) -> None:
        from mosaic_invoke import __version__  # read from the package's metadata only when asked for

        # Looked up here, not at start-up: reading package metadata costs every command time.
        self.version = __version__
        super().print_version()

    def parse_core(self, argv: list[str] | None) -> None:
        # Invoke's own, less the options mosaic-coord does not offer. Like Invoke without
        # --write-pyc, no bytecode while config files (an invoke.py) load: see execute.
        self.normalize_argv(argv)
        sys.dont_write_bytecode = True
        try:
            self.parse_core_args()
        except ParseError as error:
            raise Exit(str(error), code=2) from None
        if self.args.debug.value:
            enable_logging()
        if self.args.version.value:
            self.print_version()
            raise Exit
        if self.args["print-completion-script"].value:
            from invoke.completion.complete import print_completion_script  # Invoke's own, loaded as Invoke does

            print_completion_script(shell=self.args["print-completion-script"].value, names=self.binary_names)
            raise Exit

    def _make_parser(self) -> Parser:
        # Invoke builds a parser context for every command, then deep-copies them all, on each
        # run: a few ms. A command line names the commands it runs (or the one --help is
        # asked about), so only those are built; a line naming none (a typo, shell completion)
        # gets Invoke's own parser, for Invoke's own messages.
        words = {part for token in self.argv[1:] for part in token.split("=", 1)}
        if isinstance(self.args.help.value, str):  # `-hrun` names run too
            words.add(self.args.help.value)
        named = {name: aliases for name, aliases in self.collection.task_names.items() if words & {name, *aliases}}
        if not named or self.args.complete.value:
            return super()._make_parser()
        ignore = self.config.tasks.ignore_unknown_help
        contexts = [
            ParserContext(
                name=name, aliases=aliases, args=self.collection[name].get_arguments(ignore_unknown_help=ignore)
            )
            for name, aliases in named.items()
        ]
        return Parser(initial=self.initial_context, contexts=contexts)

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as error:
            hint = "`mosaic-coord --help` lists the commands, `mosaic-coord --help <command>` their flags"
            raise Exit(f"{error}{self._close_match(error)} ({hint})", code=2) from None

    def _close_match(self, error: ParseError) -> str:
        """A did-you-mean for a misspelt command or flag (``stauts``, ``--jsno``); else nothing."""
        unknown = _UNKNOWN.fullmatch(str(error))
        if unknown is None:
            return ""
        word = unknown[1]
        if word.startswith("-"):
            context = error.context
            known = [flag for flag in (context.flags if context is not None else ()) if flag.startswith("--")]
        else:
            known = [name for name, aliases in self.collection.task_names.items() for name in (name, *aliases)]
        close = difflib.get_close_matches(word, known, n=1)
        return f" Did you mean `{close[0]}`?" if close else ""

    def update_config(self, merge: bool = True) -> None:
        # Invoke's own sets run()'s options from the flags dropped above; only --config is left.
        path = self.args.config.value or os.environ.get("INVOKE_RUNTIME_CONFIG")
        self.config.set_runtime_path(Path(path) if path else None)
        self.config.load_runtime(merge=False)
        if merge:
            self.config.merge()

    def execute(self) -> None:
        # Invoke turns bytecode writing off so that loading a tasks.py leaves no .pyc beside
        # it. By now every config file is loaded, and mosaic-coord loads no tasks module:
        # give the interpreter its own setting back, or what the commands import lazily
        # (Jinja2, the runner) compiles from source on every run where no installer compiled it.
        sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
        super().execute()

    def parse_collection(self) -> None:
        super().parse_collection()
        # The project's invoke.yaml: of the mission named by --mission (or INVOKE_COORD_MISSION),
        # else of the one found from the current folder.
        named = _mission_named(list(self.core.unparsed)) or os.environ.get("INVOKE_COORD_MISSION")
        try:
            root = project_root(locate_mission(named) if named else find_mission_file(Path.cwd()))
        except CoordError:
            root = Path.cwd()
        self.config.set_project_location(str(root))
        self.config.load_project()


def _mission_named(tokens: list[str]) -> str | None:
    """The value of ``--mission``/``-i`` among the command's tokens, if given."""
    for index, token in enumerate(tokens):
        if token.startswith("--mission="):
            return token.split("=", 1)[1]
        if token in ("--mission", "-i") and index + 1 < len(tokens):
            return tokens[index + 1]
    return None


def make_program() -> Program:
    program: Program = CoordProgram(
        namespace=make_collection(), name="mosaic-coord", binary="mosaic-coord", config_class=CoordConfig
    )
    return program
