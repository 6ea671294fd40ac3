"""A fake Claude Code: ``claude -p <prompt> --output-format stream-json --verbose [--model M]
[--max-turns N] [--resume S]``, printing stream-json events (it ignores ``--max-turns``, so
the worker's own budget check is what stops it)."""

from __future__ import annotations

import argparse
import sys
import uuid

from script import Script, bad_lines, emit, log_call, on_sigterm, work

USAGE = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cache_creation_input_tokens": 50,
    "cache_read_input_tokens": 1000,
}


def totals(turns: int) -> dict[str, int]:
    return {k: v * turns for k, v in USAGE.items()}


def main() -> int:
    on_sigterm()
    ap = argparse.ArgumentParser(prog="claude")
    ap.add_argument("-p", dest="prompt", required=True)
    ap.add_argument("--output-format", required=True)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--model", default="claude-fake-1")
    ap.add_argument("--max-turns", type=int)
    ap.add_argument("--resume")
    args = ap.parse_args()
    log_call(sys.argv[1:])
    if args.output_format != "stream-json" or not args.verbose:
        print("Error: --output-format=stream-json requires --verbose", file=sys.stderr)
        return 1
    script = Script.parse(args.prompt)
    sid = args.resume or str(uuid.uuid4())
    base = {"session_id": sid}
    emit(
        {
            "type": "system",
            "subtype": "init",
            **base,
            "cwd": ".",
            "model": args.model,
            "tools": ["Bash", "Read", "Write"],
            "permissionMode": "default",
            "future_field": {"kept": True},
        },
        script.sleep,
    )
    if script.malformed:
        bad_lines()
    for turn in range(1, script.turns + 1):
        message = {"id": f"msg_{turn}", "type": "message", "role": "assistant", "model": args.model}
        text = {"type": "text", "text": f"Turn {turn}: writing {script.file}"}
        emit(
            {
                "type": "assistant",
                "message": {**message, "content": [text], "usage": USAGE},
                **base,
            },
            script.sleep,
        )
        call = {
            "type": "tool_use",
            "id": f"toolu_{turn}",
            "name": "Write",
            "input": {"file_path": script.file, "content": f"turn {turn}\n"},
        }
        emit(
            {"type": "assistant", "message": {**message, "content": [call], "usage": USAGE}, **base}
        )
        if script.tool_sleep:
            emit("", script.tool_sleep)
        work(script, turn)
        result = {"type": "tool_result", "tool_use_id": f"toolu_{turn}", "content": "File written"}
        emit(
            {"type": "user", "message": {"role": "user", "content": [result]}, **base}, script.sleep
        )
        if script.results == "each":
            emit(
                {
                    "type": "result",
                    "subtype": "success",
                    "is_error": False,
                    "result": f"turn {turn} done",
                    **base,
                    "num_turns": turn,
                    "total_cost_usd": round(script.cost * turn, 6),
                    "usage": totals(turn),
                },
                script.sleep,
            )
    final = {"id": "msg_final", "type": "message", "role": "assistant", "model": args.model}
    emit(
        {
            "type": "assistant",
            "message": {**final, "content": [{"type": "text", "text": "Done."}], "usage": USAGE},
            **base,
        }
    )
    turns = script.turns + 1
    emit(
        {
            "type": "result",
            "subtype": "success" if script.exit == 0 else "error_during_execution",
            "is_error": script.exit != 0,
            "duration_ms": 1234,
            "duration_api_ms": 1000,
            "result": "Done.",
            **base,
            "num_turns": turns,
            "total_cost_usd": round(script.cost * turns, 6),
            "usage": totals(turns),
        }
    )
    return script.exit


if __name__ == "__main__":
    sys.exit(main())
