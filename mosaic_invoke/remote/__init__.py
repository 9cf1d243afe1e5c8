"""Several machines, one mission (SPEC 16): claims and landing through the git remote the hosts share.

Nothing here runs without ``remote`` in mission.yaml. The remote's own compare-and-swap on a
ref (``git push --force-with-lease``) is the lock: `transport` pushes and reads refs, retrying
through network faults; `claim` is one claim as data, `claims` makes, renews, releases and
takes over a task's claim, and `heartbeat` renews it while its session runs; `sightings`
judges a claim stale by this host's own clock; `branch` lands on the remote's branch; `board`
is one host's view of all of it, polled.
"""
