"""coord's own standard streams: what they do with text they cannot encode, or a reader gone."""

from __future__ import annotations

import codecs
import io
import os
import sys


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
