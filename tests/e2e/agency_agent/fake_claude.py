"""A fake Claude CLI for ``ag-agent-claude``: the argv it runs (``--print ... --output-format
json [--session-id U | --resume S] -p -- "<agency prompt>\\n\\n<user prompt>"``), one JSON
result object on stdout. The user prompt steers it: ``sleep N`` sleeps N seconds first,
``sleep-once FILE N`` sleeps only when FILE does not exist yet (and makes it),
``fail`` exits 3. Each call is logged (argv and pid) under ``$FAKE_CLAUDE_LOG``."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid


def main() -> int:
    argv = sys.argv[1:]
    prompt = argv[argv.index("--") + 1] if "--" in argv else ""
    user = prompt.split("\n\n", 1)[-1].strip()
    session = None
    for flag in ("--session-id", "--resume"):
        if flag in argv:
            session = argv[argv.index(flag) + 1]
    session = session or str(uuid.uuid4())
    log = os.environ.get("FAKE_CLAUDE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": argv}) + "\n")
    words = user.split()
    if words[:1] == ["sleep"]:
        time.sleep(float(words[1]))
    if words[:1] == ["sleep-once"] and not os.path.exists(words[1]):
        open(words[1], "w").close()  # the first run (on any agent) sleeps, a retry does not
        time.sleep(float(words[2]))
    if words[:1] == ["fail"]:
        print("fake claude failed on purpose", file=sys.stderr)
        return 3
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": f"done: {user}",
        "session_id": session,
        "num_turns": 1,
        "duration_ms": 5,
        "total_cost_usd": 0.001,
        "usage": {"input_tokens": 120, "output_tokens": 30},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
