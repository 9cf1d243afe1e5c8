"""A stand-in agent for the demo: it "does" its task by marking it done, as a real agent would.

coord passes the continuation prompt as the last argument and the task id in MOSAIC_TASK_ID.
"""

import os
import sys
from pathlib import Path

task_id = os.environ["MOSAIC_TASK_ID"]
prompt = sys.argv[-1]
print(f"  [agent] got a {len(prompt.splitlines())}-line prompt; working on {task_id}")

tasks = Path("docs/TASKS.md")
lines = tasks.read_text().splitlines(keepends=True)
for index, line in enumerate(lines):
    cells = line.split("|")
    if len(cells) > 2 and cells[1].strip() == task_id:
        cells[2] = cells[2].replace(cells[2].strip(), "done".ljust(len(cells[2].strip())), 1)
        lines[index] = "|".join(cells)
tasks.write_text("".join(lines))

# A note of its own per task: agents working at once in lanes never edit the same file.
note = Path("docs/notes") / f"{task_id}.md"
note.parent.mkdir(parents=True, exist_ok=True)
note.write_text(f"- {task_id}: done by the demo agent\n")
print(f"  [agent] {task_id} marked done")
