"""The no-progress breaker (SPEC section 17): sessions in a row that changed nothing, or that
ended on the same error, stop a loop with ``no-progress``; a commit is always progress."""

from __future__ import annotations

from dataclasses import replace

from mosaic_invoke.store.loopfile import LoopRecord
from mosaic_invoke.store.session import Session

ERROR_CHARS = 300
"""Characters of an error message kept to compare it with the next session's."""


def progressed(session: Session) -> bool:
    """Whether ``session`` moved the mission: a commit, a change in the work tree other than
    coord's own files, or a status cell the agent changed (its task's or another's)."""
    git = session.git or {}
    if git.get("commits") or git.get("changed"):
        return True
    if session.tasks_done or session.tasks_changed:
        return True
    return session.task_status_after not in (None, "in-progress")


def error_of(session: Session) -> str | None:
    """What ``session`` ended on, to compare with the next: the reason a claim was rejected, or
    how the agent failed in its own last words; None for a session that ended well."""
    if session.verdict == "rejected":
        return session.rejected_because or "rejected"
    if session.ended_reason in (None, "completed", "usage-limit", "interrupted"):
        return None
    said = next((line.strip() for line in (session.final_message or "").splitlines() if line.strip()), "")
    how = session.ended_reason if session.exit_code is None else f"{session.ended_reason} (exit {session.exit_code})"
    return f"{how}: {said}"[:ERROR_CHARS] if said else how


def count_progress(record: LoopRecord, session: Session) -> LoopRecord:
    """``record`` with ``session``'s progress counted (the caller leaves out the sessions it does
    not count: a usage limit, a stop asked for)."""
    error = error_of(session)
    committed = bool((session.git or {}).get("commits"))
    same = 1 + (record.same_error_in_row if error == record.last_error else 0)
    return replace(
        record,
        idle_in_row=0 if progressed(session) else record.idle_in_row + 1,
        same_error_in_row=0 if error is None or committed else same,
        last_error=error,
    )


def no_progress(record: LoopRecord, limit: int | None) -> str | None:
    """Why the loop stops with ``no-progress`` (``limit``: `--max-idle-sessions`), if it does."""
    if not limit:
        return None
    if record.idle_in_row >= limit:
        return f"{record.idle_in_row} sessions in a row changed nothing: no commit, no change in the tree, no status"
    if record.same_error_in_row >= limit:
        return f"{record.same_error_in_row} sessions in a row ended on the same error: {record.last_error}"
    return None
