"""Talking to the git remote: read a ref, compare-and-swap a ref, each through network faults.

A push that fails, times out or is refused is never taken at its word: the remote's ref is
read again, and what it holds decides. It holds the new value: the swap happened (a push
whose answer was lost). It holds something else than expected: another host moved it. It
still holds the expected value: the push did not get through, and it is tried again after a
back-off, until the patience runs out. So a swap is never made twice nor lost unsaid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.gitcmd import QUIET, run

Report = Callable[[str], None]
_NO_SUCH_REF = "fatal: couldn't find remote ref "
"""What git says when the remote answered and has no such ref (under ``LC_ALL=C``)."""
_STEP = 0.05
"""Seconds between looks at `Patience.stop` during a back-off."""


class RemoteFault(CoordError):
    """The remote did not answer, or kept refusing, for longer than the patience allowed."""


@dataclass(frozen=True)
class Patience:
    """How long to keep trying a remote that does not answer, and how."""

    total: float = 300.0
    """Seconds from the first failure before giving up (`RemoteFault`)."""
    first: float = 0.5
    """The first back-off, in seconds; it doubles after each failure, up to ``most``."""
    most: float = 10.0
    answer: float = 60.0
    """Seconds one git command may take before it is killed and counted a fault."""
    stop: Callable[[], bool] | None = None
    """Asked during each back-off: True gives up at once (a loop being stopped)."""

    def delays(self) -> Iterator[float]:
        """The back-offs, each no longer than what remains of ``total``; then none."""
        delay, spent = self.first, 0.0
        while spent < self.total:
            wait = min(delay, self.most, self.total - spent)
            yield wait
            spent += wait
            delay *= 2


@dataclass(frozen=True)
class Remote:
    """A git remote, as seen from one clone (a host)."""

    repo: Path
    """Any folder of the clone (its main checkout or a lane's worktree)."""
    name: str
    """The remote's name in that clone (``origin``)."""


@dataclass(frozen=True)
class Swapped:
    """The ref now holds the new value (None: it is gone)."""

    value: str | None


@dataclass(frozen=True)
class Moved:
    """The ref held something else than expected; nothing was changed."""

    current: str | None


class _Unanswered(Exception):
    """One git command against the remote failed; its complaint."""


def swap(
    remote: Remote,
    ref: str,
    expected: str | None,
    new: str | None,
    patience: Patience,
    report: Report,
) -> Swapped | Moved:
    """Set ``ref`` on the remote to ``new`` (None: delete it) if it holds ``expected`` (None: absent).

    Raises `RemoteFault` when the remote neither answers nor takes the push within ``patience``.
    """
    lease = f"--force-with-lease={ref}:{expected or ''}"
    spec = f"{new or ''}:{ref}"
    delays = patience.delays()
    while True:
        try:
            _git(remote, patience, "push", "--porcelain", "--no-verify", lease, remote.name, spec)
            return Swapped(new)
        except _Unanswered as pushed:
            why = str(pushed)
        try:  # what the push did, whatever it said
            current = _value(remote, ref, patience)
        except _Unanswered as read:
            why = str(read)
        else:
            if current == new:
                return Swapped(new)
            if current != expected:
                return Moved(current)
        _back_off(remote, delays, patience, report, why, f"`{ref}` not updated")


def read_refs(remote: Remote, pattern: str, patience: Patience, report: Report) -> dict[str, str]:
    """The remote's refs matching ``pattern`` (``refs/coord/m/claims/*``), name -> commit."""
    delays = patience.delays()
    while True:
        try:
            return _refs(remote, pattern, patience)
        except _Unanswered as failed:
            _back_off(remote, delays, patience, report, str(failed), f"`{pattern}` not read")


def fetch(remote: Remote, refspecs: tuple[str, ...], patience: Patience, report: Report) -> bool:
    """``git fetch`` the ``refspecs`` from the remote (``--prune``: refs gone there go here too);
    False when the remote answered that it has no such ref (nothing fetched, nothing retried)."""
    delays = patience.delays()
    args = ("fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head", "--no-recurse-submodules")
    while True:
        try:
            _git(remote, patience, *args, remote.name, *refspecs)
            return True
        except _Unanswered as failed:
            if str(failed).startswith(_NO_SUCH_REF):
                return False
            _back_off(remote, delays, patience, report, str(failed), "not fetched")


def local_git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """``git ARGS`` in ``repo`` that does not touch the remote; its output, stripped."""
    result = run(repo, *args, stdin=stdin)
    if result.returncode != 0:
        msg = f"{repo}: `git {' '.join(args)}` failed: {_complaint(result.stdout, result.stderr)}"
        raise CoordError(msg)
    return result.stdout.strip()


def _back_off(remote: Remote, delays: Iterator[float], patience: Patience, report: Report, why: str, what: str) -> None:
    """Wait the next back-off, saying why; raise `RemoteFault` once the patience is spent."""
    delay = next(delays, None)
    if delay is None:
        msg = f"{remote.repo}: remote `{remote.name}`: {what} after trying for {patience.total:g}s: {why}"
        if "remote rejected" in why or "deny" in why:
            msg += "; if the host accepts only branches, set `claims_ref: refs/heads/coord` in mission.yaml"
        raise RemoteFault(msg)
    report(f"remote `{remote.name}`: {what}: {why}; trying again in {delay:.1f}s")
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0:
        if patience.stop is not None and patience.stop():
            msg = f"{remote.repo}: remote `{remote.name}`: {what} ({why}); stopped while waiting to try again"
            raise RemoteFault(msg)
        time.sleep(min(_STEP, left))


def _value(remote: Remote, ref: str, patience: Patience) -> str | None:
    return _refs(remote, ref, patience).get(ref)


def _refs(remote: Remote, pattern: str, patience: Patience) -> dict[str, str]:
    listing = _git(remote, patience, "ls-remote", "--refs", remote.name, pattern)
    found: dict[str, str] = {}
    prefix = pattern[:-1] if pattern.endswith("*") else None
    for line in listing.splitlines():
        commit, _, name = line.partition("\t")
        # ls-remote matches the pattern's tail: keep only the names it means.
        if name == pattern or (prefix is not None and name.startswith(prefix)):
            found[name] = commit
    return found


def _git(remote: Remote, patience: Patience, *args: str) -> str:
    """``git ARGS`` against the remote, killed (with what it started) after ``patience.answer``
    seconds; its output, or `_Unanswered` with its complaint."""
    try:
        process = subprocess.Popen(
            ["git", *args],
            cwd=remote.repo,
            env={**os.environ, **QUIET},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own group: a timeout kills ssh with it, and no prompt reaches a terminal
        )
    except OSError as exc:
        raise _Unanswered(f"git could not run: {exc}") from None
    try:
        out, err = process.communicate(timeout=patience.answer)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise _Unanswered(f"no answer in {patience.answer:g}s") from None
    if process.returncode != 0:
        raise _Unanswered(_complaint(out, err))
    return out


def _complaint(out: str, err: str) -> str:
    """git's reason in one line: a refused ref of ``push --porcelain``, else its first fatal or error line."""
    for line in out.splitlines():
        if line.startswith("!"):
            return f"refused: {line.split(chr(9))[-1].strip()}"
    said = [line.strip() for line in err.splitlines() if line.strip()]
    fatal = next((line for line in said if line.startswith("fatal:")), None)
    error = next((line for line in said if line.startswith("error:")), None)
    return fatal or error or (said[0] if said else "git said nothing")
