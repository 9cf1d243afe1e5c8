"""A loop's lanes with a shared remote (SPEC 16): what the loop asks of the remote before it
starts a lane, and while it waits for other hosts.

Before it chooses, the loop polls the remote (when due: every ``claim_ttl / 3``, at most 10 s,
and after each session's end): the branch fetched, every claim read. A task another host holds
is not chosen (nor one whose ``paths`` overlap it); a chosen task is claimed, or taken over when
its claim is stale by this host's clock; a won claim on a task the remote branch has done
already is released. A loop whose remaining tasks are all claimed elsewhere waits for them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.loop.lanes import branch_tasks
from mosaic_invoke.loop.remotelanding import follow_local, held_line
from mosaic_invoke.remote.board import POLL_CEILING, Board, check_remote, patience_of
from mosaic_invoke.remote.claim import Claim, Taken
from mosaic_invoke.remote.claims import release
from mosaic_invoke.remote.transport import RemoteFault
from mosaic_invoke.store.clock import format_span
from mosaic_invoke.store.state import load_state
from mosaic_invoke.tasks.tasksfile import TasksFile, TaskStatus

Report = Callable[[str], None]
_FINISHED = (TaskStatus.DONE, TaskStatus.CANCELLED)


class SharedLanes:
    """One loop's dealings with the remote its hosts share."""

    def __init__(
        self, mission: Mission, branch: str, report: Report, stop: Callable[[], bool], *, brief: bool = False
    ) -> None:
        """``brief``: a remote that does not answer is tried for a few seconds only, then again at
        the next poll (a loop keeps looking after its lanes meanwhile); else for `patience_of`."""
        check_remote(mission)
        self.mission = mission
        self.branch = branch
        self.report = report
        patience = patience_of(mission, stop)
        self.board = Board(mission, branch, report, replace(patience, total=POLL_CEILING) if brief else patience)
        self.unreachable: str | None = None
        """Why the last poll failed, while it did (said once)."""
        self.said_waiting: frozenset[str] | None = None
        self.said_local: str | None = None
        """Why this clone's branch does not follow the remote's, as said last (said once)."""
        self.polls = 0
        config = self.board.config
        report(
            f"through remote `{config.name}`: tasks land on its branch `{branch}`, claims under "
            f"{self.board.space.prefix}/ (claim_ttl {format_span(config.claim_ttl)})"
        )

    def poll(self, running: Iterable[str]) -> None:
        """Fetch and read the remote now: this clone's branch (and clean checkout) follow it; this
        clone's claims whose session no longer runs, and stale claims on tasks done there, go."""
        self.board.poll()
        self.polls += 1
        tasks = branch_tasks(self.mission, self.branch)
        why = follow_local(self.mission, self.branch, self.board.head) if self.board.head is not None else None
        if why is not None and why != self.said_local:
            self.report(f"warning: {why}")
        self.said_local = why
        ended = [
            s.session_id for s in load_state(self.mission.orchestrator_path, self.mission.id).sessions if not s.running
        ]
        for task_id in self.board.release_leftovers(running, ended):
            self.report(f"claim on {task_id} left by a session of this clone that no longer runs: released")
        for seen in self.board.seen():
            found = seen.sighting.claim
            finished = tasks.status_of(found.task_id) in _FINISHED
            if seen.sighting.stale and not seen.mine and finished and self._clear(found):
                self.report(f"stale claim on {found.task_id}, done on the branch, cleared")

    def _clear(self, stale: Claim) -> bool:
        return release(self.board.space, stale, self.board.patience, self.report) is None

    def refresh(self, running: Iterable[str]) -> bool:
        """Poll when due; False when the remote did not answer (said once; tried again when due)."""
        if not self.board.due():
            return self.unreachable is None
        try:
            self.poll(running)
        except RemoteFault as fault:
            self.board.polled_at = time.monotonic()
            if self.unreachable is None:
                self.report(f"warning: {fault.problems[0]}; no lane starts until it answers")
            self.unreachable = fault.problems[0]
            return False
        if self.unreachable is not None:
            self.report(f"remote `{self.board.config.name}` answers again")
        self.unreachable = None
        return True

    def poll_soon(self) -> None:
        """Poll at the next look, whether or not it is due (a lane became free)."""
        self.board.polled_at = None

    def held_elsewhere(self, tasks: TasksFile) -> dict[str, tuple[str, ...]]:
        """The tasks other hosts hold (not stale), with their ``paths``: none of them is chosen,
        nor a task that may touch their files."""
        held = {}
        for task_id in self.board.held_elsewhere():
            task = tasks.task(task_id)
            held[task_id] = task.paths if task is not None else ()
        return held

    def claim(self, task_id: str, lane: int) -> Claim | Taken | None:
        """Claim ``task_id`` for a lane: `Taken` when another host holds it, None when the remote
        branch has it done already (the claim released)."""
        got = self.board.take(task_id, lane)
        if isinstance(got, Taken):
            return got
        try:
            self.board.fetch()  # won: is it done on the remote branch already?
            self.polls += 1
            done = branch_tasks(self.mission, self.branch).status_of(task_id) in _FINISHED
        except CoordError:
            self.board.let_go(got)
            raise
        if done:
            self.board.let_go(got)
            self.report(f"{task_id} is done on {self.board.config.name}/{self.branch} already; claim released")
            return None
        return got

    def held_by(self, task_id: str) -> Taken | None:
        """Another host's claim on ``task_id`` that is not stale, as last polled."""
        found = self.board.sightings.sighting(task_id)
        if found is None or found.stale or self.board.mine(found.claim):
            return None
        return Taken(found.claim)

    def claim_for(self, task_id: str, lane: int) -> Claim | None:
        """`claim`, saying why when the loop must choose again (a remote that does not answer too)."""
        try:
            got = self.claim(task_id, lane)
        except RemoteFault as fault:
            self.report(f"warning: {task_id} not claimed: {fault.problems[0]}")
            self.unreachable = fault.problems[0]  # a poll tells when it answers again
            self.board.polled_at = time.monotonic()
            return None
        if isinstance(got, Taken):
            self.report(f"{held_line(got, task_id)}; another task is chosen")
            return None
        return got

    def let_go(self, held: Claim | None) -> None:
        """Release a claim whose lane could not start (what failed is said already; a claim that
        cannot be released now is released at a later poll)."""
        if held is not None:
            with contextlib.suppress(CoordError):
                self.board.let_go(held)

    def waiting(self, tasks: TasksFile, *, say: bool = True) -> bool:
        """Whether tasks not done on the branch are claimed elsewhere (the loop waits for them
        rather than stop: their hosts land them, or their claims go stale); said once, when ``say``.
        So does a remote that does not answer: nothing can be said of the mission until it does."""
        if self.unreachable is not None:
            return True
        others = {
            seen.sighting.claim.task_id: seen.sighting.claim
            for seen in self.board.seen()
            if not seen.mine and tasks.status_of(seen.sighting.claim.task_id) not in _FINISHED
        }
        if not others:
            self.said_waiting = None
            return False
        if say and self.said_waiting != frozenset(others):
            self.said_waiting = frozenset(others)
            held = ", ".join(f"{task_id} ({claim.host or 'an unknown host'})" for task_id, claim in others.items())
            every = format_span(self.board.every)
            self.report(f"waiting for other hosts: {held} claimed; the remote is polled every {every}")
        return True
