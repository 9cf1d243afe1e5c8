"""A stand-in reviewer: says what a reviewing agent would, its verdict on the last line.

Launched as ``python review_agent.py PROMPT`` (the prompt as its last argument, or ``-``: on
stdin). Driven by the environment:
REVIEW_AGENT_SAYS: what follows ``VERDICT:``, e.g. ``accept`` or ``reject: no test``
  (default ``accept``); ``nothing``: no verdict line at all; several separated by ``|`` say
  one per run, in order, then the last one again (runs counted in the file REVIEW_AGENT_COUNT);
REVIEW_AGENT_STREAM: ``claude``: speak claude's stream-json, its result costing
  REVIEW_AGENT_COST dollars (default 0.25) with 1200 input and 80 output tokens;
REVIEW_AGENT_SEEN: a file to write, as JSON, what it was given (``prompt``, ``cwd``, ``env``:
  the ``MOSAIC_*`` variables, ``stdin``: whether its stdin was empty);
REVIEW_AGENT_TOUCH: a file to write (a reviewer that tries to change the tree);
REVIEW_AGENT_HANG: wait until ended by a signal, after printing its first line;
REVIEW_AGENT_EXIT: its exit code (default 0).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

prompt = sys.argv[-1] if len(sys.argv) > 1 else "-"
stdin = sys.stdin.read()
if prompt == "-":
    prompt = stdin
seen = os.environ.get("REVIEW_AGENT_SEEN")
if seen:
    env = {key: value for key, value in os.environ.items() if key.startswith("MOSAIC_")}
    Path(seen).write_text(json.dumps({"prompt": prompt, "cwd": os.getcwd(), "env": env, "stdin": stdin == ""}))
touch = os.environ.get("REVIEW_AGENT_TOUCH")
if touch:
    Path(touch).write_text("the reviewer was here\n")
says = os.environ.get("REVIEW_AGENT_SAYS", "accept").split("|")
counter = os.environ.get("REVIEW_AGENT_COUNT")
runs = 0
if len(says) > 1 and counter:
    runs = int(Path(counter).read_text()) if Path(counter).exists() else 0
    Path(counter).write_text(str(runs + 1))
says = says[min(runs, len(says) - 1)]
text = "I read the diff and the task.\n" + ("" if says == "nothing" else f"VERDICT: {says}")
stream = os.environ.get("REVIEW_AGENT_STREAM") == "claude"
if stream:
    print(json.dumps({"type": "system", "subtype": "init", "session_id": "rev-1", "permissionMode": "default"}))
else:
    print("I read the diff and the task.")
sys.stdout.flush()
if os.environ.get("REVIEW_AGENT_HANG"):
    while True:
        time.sleep(0.1)
if stream:
    print(json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}}))
    cost = float(os.environ.get("REVIEW_AGENT_COST", "0.25"))
    usage = {"input_tokens": 1200, "output_tokens": 80}
    result = {"type": "result", "subtype": "success", "is_error": False, "num_turns": 2, "result": text}
    print(json.dumps({**result, "session_id": "rev-1", "total_cost_usd": cost, "usage": usage}))
elif says != "nothing":
    print(f"VERDICT: {says}")
sys.exit(int(os.environ.get("REVIEW_AGENT_EXIT", "0")))
