"""coord's own standard streams: what they do with text they cannot encode, or a reader gone,
and the control characters in text from agents and tasks files."""

from __future__ import annotations

import codecs
import io
import os
import re
import sys

# C0 but tab and newline, DEL, C1: what a terminal acts on (ESC starts its commands).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with its control characters shown as escapes (``\\x1b``, ``\\r``): from an
    agent, a tasks file or a path, they would reach the terminal and act there (clear the
    screen, set its title). Tabs and newlines stay, so multi-line text reads as it was."""
    return _CONTROLS.sub(_shown, text)


def _shown(found: re.Match[str]) -> str:
    character = found.group()
    return "\\r" if character == "\r" else f"\\x{ord(character):02x}"


def tolerant_stdout() -> None:
    """An agent's JSON may hold a lone surrogate (`"\\ud800"`), which has no UTF-8: stdout shows
    it as its escape, as stderr does, rather than failing halfway through a session."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors in ("strict", "surrogateescape"):
        codecs.register_error(_ESCAPING, _escape)
        sys.stdout.reconfigure(errors=_ESCAPING)


_ESCAPING = "mosaic-invoke-escape"


def _escape(error: UnicodeError) -> tuple[str | bytes, int]:
    # Bytes a C locale read undecoded go back out as they came (surrogateescape); any other
    # lone surrogate is shown as its escape.
    try:
        return codecs.lookup_error("surrogateescape")(error)
    except UnicodeError:
        return codecs.backslashreplace_errors(error)


def discard_stdout() -> None:
    """After the reader of stdout went away (`coord.status | head`): point stdout at /dev/null,
    so that no later write or the interpreter's last flush fails again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
