"""A stand-in agent: records what it was started with, waits, exits with a chosen code.

Driven by environment variables so that coord launches it exactly as it would a real agent:
FAKE_AGENT_RECORD (JSON file to write argv, cwd and env to), FAKE_AGENT_READY (a file to
create once started, holding its pid), FAKE_AGENT_SLEEP (seconds), FAKE_AGENT_WAIT_FOR (a
file to wait for, 120 s at most: a test that failed leaves no agent behind for long),
FAKE_AGENT_LOG (a file to append one line to per run), FAKE_AGENT_EXIT (exit code).
"""

import json
import os
import sys
import time
from pathlib import Path

record = os.environ.get("FAKE_AGENT_RECORD")
if record:
    Path(record).write_text(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}))
ready = os.environ.get("FAKE_AGENT_READY")
if ready:  # written whole, then renamed: a test that sees the file reads the pid
    Path(ready + ".tmp").write_text(str(os.getpid()))
    os.replace(ready + ".tmp", ready)
log = os.environ.get("FAKE_AGENT_LOG")
if log:
    with open(log, "a") as runs:
        runs.write(f"{os.getpid()} {os.environ.get('MOSAIC_SESSION_ID')}\n")
time.sleep(float(os.environ.get("FAKE_AGENT_SLEEP", "0")))
release = os.environ.get("FAKE_AGENT_WAIT_FOR")
deadline = time.monotonic() + 120
while release and not Path(release).exists() and time.monotonic() < deadline:
    time.sleep(0.02)
print("fake agent done")
sys.exit(int(os.environ.get("FAKE_AGENT_EXIT", "0")))
