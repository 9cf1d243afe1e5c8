"""The agent's output as it comes: each line saved to the session's log, read, and shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from ._reader import Reader


def relay(
    source: IO[bytes],
    log: IO[bytes],
    reader: Reader,
    *,
    write: Callable[[str], None] | None = None,
    on_session_id: Callable[[str], None] | None = None,
) -> Reader:
    """Copy ``source`` (the agent's stdout) to ``log`` line by line until it ends, feeding ``reader``.

    ``write`` gets the compact view's lines (None: show nothing, e.g. with ``--json``);
    ``on_session_id`` is called each time the agent names a new session id, so that it can be
    recorded before the session ends. Each line reaches the log before it is read, whole.
    """
    known = reader.agent_session_id
    for raw in iter(source.readline, b""):
        log.write(raw)
        log.flush()
        shown = reader.feed(raw.decode("utf-8", "replace"))
        if write is not None:
            for line in shown:
                write(line)
        if on_session_id is not None and reader.agent_session_id and reader.agent_session_id != known:
            known = reader.agent_session_id
            on_session_id(known)
    return reader
