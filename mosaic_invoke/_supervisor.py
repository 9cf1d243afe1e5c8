"""The supervisor of a detached session: start the agent, report its pid, wait, record its end.

Run as ``python -m mosaic_invoke._supervisor`` by ``coord.run --detach``, in a session of its
own, with the launch spec as JSON on stdin and a pipe to coord on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ._exceptions import CoordError
from ._process import process_start_time, start, wait
from ._runner import record_end


def main() -> int:
    spec = json.loads(sys.stdin.read())
    with open(spec["log"], "ab") as log:
        try:
            process = start(
                spec["argv"], Path(spec["cwd"]), spec["env"], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        except CoordError as error:
            print(json.dumps({"error": str(error)}), flush=True)
            return 1
        try:
            print(json.dumps({"pid": process.pid, "pid_started_at": process_start_time(process.pid)}), flush=True)
        except BrokenPipeError:
            # coord died before it could record the session: no agent may run untracked.
            process.terminate()
            process.wait()
            return 1
        # coord has its answer and returns; from now on only the log hears from us.
        os.dup2(log.fileno(), sys.stdout.fileno())
    exit_code, interrupted = wait(process)
    try:
        record_end(Path(spec["orchestrator"]), spec["mission_id"], spec["session_id"], exit_code, interrupted)
    except CoordError as error:
        print(f"coord supervisor: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
