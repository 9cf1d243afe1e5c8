"""A held claim kept alive while its session runs: renewed every ``claim_ttl / 3`` in a thread.

The session's follower asks `Heartbeat.lost` at each look at its agent: once another host has
taken the claim over (a renewal found another value), the agent is ended and the session is
recorded interrupted, its claim lost. A renewal that cannot reach the remote is tried again
at the next beat; the claim is lost only when the remote says so.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from mosaic_invoke.errors import CoordError
from mosaic_invoke.remote.claim import Claim, ClaimSpace, Taken
from mosaic_invoke.remote.claims import release, renew
from mosaic_invoke.remote.transport import Patience, Report


class Heartbeat:
    """Renews ``held`` every ``every`` seconds until stopped or lost."""

    def __init__(
        self,
        space: ClaimSpace,
        held: Claim,
        every: float,
        patience: Patience,
        report: Report,
        *,
        session_id: str | None = None,
    ) -> None:
        self.space = space
        self.session_id = session_id
        """The session working under the claim, written into it from the first beat on."""
        self.every = every
        # Each renewal gives up within one beat: the next one tries again.
        self.patience = replace(patience, total=min(patience.total, every))
        self.report = report
        self._held = held
        self._taken: Taken | None = None
        self._lock = threading.Lock()
        self._renewing = threading.Lock()
        """One renewal at a time: two with a lease on one value would take each other for another host."""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="claim heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def held(self) -> Claim:
        """The claim's value as last pushed (what a release or a renewal expects)."""
        with self._lock:
            return self._held

    @property
    def lost(self) -> Taken | None:
        """How the claim was lost (to whom), once it was."""
        with self._lock:
            return self._taken

    def beat_now(self) -> Taken | None:
        """Renew at once (before landing: the work lands only under a claim still ours)."""
        self._renew(self.patience)
        return self.lost

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def release(self, patience: Patience) -> Taken | None:
        """Stop beating and delete the claim, expecting its last value; `Taken` if it was not ours."""
        self.stop()
        if self.lost is not None:
            return self.lost
        return release(self.space, self.held, patience, self.report)

    def _beat(self) -> None:
        """At once (the claim then names its session), then every ``every`` seconds."""
        while self._renew(self.patience) is None and not self._stopping.wait(self.every):
            pass

    def _renew(self, patience: Patience) -> Taken | None:
        with self._renewing:
            with self._lock:
                if self._taken is not None:
                    return self._taken
                held = self._held
            try:
                patient = replace(patience, stop=self._stopping.is_set)
                renewed = renew(self.space, held, patient, self.report, session_id=self.session_id)
            except CoordError as error:  # the remote did not answer: the claim is not lost for that
                self.report(f"warning: claim on {held.task_id} not renewed: {error.problems[0]}")
                return None
            with self._lock:
                if isinstance(renewed, Taken):
                    self._taken = renewed
                else:
                    self._held = renewed
                return self._taken
