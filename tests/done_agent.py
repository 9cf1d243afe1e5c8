"""A stand-in agent that does (or claims) its work: marks tasks done in the tasks file by hand.

It edits the status cell of each task's row, as an agent editing the markdown would, then
optionally writes a file and commits. Driven by the environment coord gives it
(MOSAIC_TASK_ID) and by: DONE_AGENT_TASKS (ids to mark, space-separated; default the
session's task), DONE_AGENT_STATUS (the status to write; default done), DONE_AGENT_WRITE
(`path=text`: write a file, e.g. one the gates read), DONE_AGENT_SNAPSHOT (a path to copy
the tasks file to, as the agent left it), DONE_AGENT_COMMIT (a commit message:
commit everything), DONE_AGENT_SLEEP (seconds, after the edit), DONE_AGENT_EXIT (exit code).
The tasks file is docs/TASKS.md under the project root (coord starts agents there).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

tasks_file = Path("docs/TASKS.md")
ids = os.environ.get("DONE_AGENT_TASKS", os.environ["MOSAIC_TASK_ID"]).split()
status = os.environ.get("DONE_AGENT_STATUS", "done")
lines = tasks_file.read_bytes().split(b"\n")
for number, line in enumerate(lines):
    cells = line.split(b"|")
    if len(cells) > 3 and cells[1].strip().decode() in ids:
        cells[2] = f" {status} ".encode()
        lines[number] = b"|".join(cells)
tasks_file.write_bytes(b"\n".join(lines))
snapshot = os.environ.get("DONE_AGENT_SNAPSHOT")
if snapshot:
    Path(snapshot).write_bytes(tasks_file.read_bytes())
write = os.environ.get("DONE_AGENT_WRITE")
if write:
    path, _, text = write.partition("=")
    Path(path).write_text(text)
message = os.environ.get("DONE_AGENT_COMMIT")
if message:
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], check=True)
print(f"marked {' '.join(ids)} {status}")
time.sleep(float(os.environ.get("DONE_AGENT_SLEEP", "0")))
sys.exit(int(os.environ.get("DONE_AGENT_EXIT", "0")))
