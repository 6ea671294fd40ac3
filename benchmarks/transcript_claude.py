"""A fake ``claude -p ... --output-format stream-json`` for ``bench_transcripts``: an init
line, ``LINES - 2`` assistant lines (each text ``emitted=<epoch seconds> n=<i>``), then the
result, at ``RATE`` lines a second (in bursts of 50). ``transcript_claude.py LINES RATE`` (the
worker appends Claude's own flags, which are ignored; its env is clean, hence argv)."""

from __future__ import annotations

import json
import sys
import time
import uuid


def main() -> int:
    lines, rate = int(sys.argv[1]), float(sys.argv[2])
    session = str(uuid.uuid4())
    out = sys.stdout
    init = {"type": "system", "subtype": "init", "session_id": session, "model": "claude-bench"}
    out.write(json.dumps(init) + "\n")
    usage = {"input_tokens": 10, "output_tokens": 5}
    start = time.monotonic()
    for n in range(1, lines - 1):
        message = {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": "claude-bench",
            "content": [{"type": "text", "text": f"emitted={time.time():.6f} n={n}"}],
            "usage": usage,
        }
        out.write(json.dumps({"type": "assistant", "message": message, "session_id": session}))
        out.write("\n")
        if n % 50 == 0:
            out.flush()
            ahead = start + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "done",
        "session_id": session,
        "num_turns": lines - 2,
        "total_cost_usd": 0.5,
        "usage": {"input_tokens": 10 * (lines - 2), "output_tokens": 5 * (lines - 2)},
    }
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
