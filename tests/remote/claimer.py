"""A host claiming one task, for the tests: ``claimer.py CLONE TASK SESSION GO`` waits for the
file GO to exist (all claimers start together), claims TASK in CLONE's remote, and prints
``won <commit>`` or ``lost <session id of the winner>``; with ``--hold``, it then renews its
claim until it is taken away and prints ``taken <session id of the taker>``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mosaic_invoke.remote.claim import Taken, claim_space
from mosaic_invoke.remote.claims import claim, renew
from mosaic_invoke.remote.transport import Patience


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main() -> int:
    clone, task, session, go = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    space = claim_space(clone, "origin", "refs/coord", "demo")
    patience = Patience(total=120.0, first=0.05, most=0.5)
    while not go.exists():
        time.sleep(0.005)
    got = claim(space, task, patience, say, lane=1, session_id=session)
    if isinstance(got, Taken):
        print(f"lost {got.by.session_id if got.by else None}", flush=True)
        return 0
    print(f"won {got.commit}", flush=True)
    while "--hold" in sys.argv:
        time.sleep(0.05)
        renewed = renew(space, got, patience, say)
        if isinstance(renewed, Taken):
            print(f"taken {renewed.by.session_id if renewed.by else None}", flush=True)
            return 0
        got = renewed
    return 0


if __name__ == "__main__":
    sys.exit(main())
