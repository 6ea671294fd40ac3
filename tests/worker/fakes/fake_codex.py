"""A fake Codex CLI: ``codex exec --json [--skip-git-repo-check] [--model M] [resume T] <prompt>``,
printing ``exec --json`` thread events."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from script import Script, bad_lines, emit, log_call, on_sigterm, work

USAGE = {"input_tokens": 1200, "cached_input_tokens": 200, "output_tokens": 345}


def parse(argv: list[str]) -> tuple[str | None, str, dict[str, str]]:
    """(thread to resume, prompt, flags) of ``exec ...``; exits 2 on anything else."""
    if not argv or argv[0] != "exec":
        print(f"fake codex: expected `exec`, got {argv}", file=sys.stderr)
        sys.exit(2)
    flags: dict[str, str] = {}
    positional: list[str] = []
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if arg in ("--json", "--skip-git-repo-check"):
            flags[arg] = "1"
        elif arg in ("--model", "-m"):
            flags["--model"] = rest.pop(0)
        elif arg.startswith("-") and arg.strip() == arg:
            print(f"fake codex: unknown flag {arg}", file=sys.stderr)
            sys.exit(2)
        else:
            positional.append(arg)
    if "--json" not in flags:
        print("fake codex: only --json output is faked", file=sys.stderr)
        sys.exit(2)
    if positional and positional[0] == "resume":
        return positional[1], positional[2], flags
    return None, positional[0], flags


def main() -> int:
    on_sigterm()
    thread, prompt, _flags = parse(sys.argv[1:])
    log_call(sys.argv[1:])
    script = Script.parse(prompt)
    emit({"type": "thread.started", "thread_id": thread or str(uuid.uuid4())}, script.sleep)
    emit({"type": "turn.started"}, script.sleep)
    if script.malformed:
        bad_lines()
    n = 0
    for turn in range(1, script.turns + 1):
        emit(
            {
                "type": "item.completed",
                "item": {"id": f"item_{n}", "type": "reasoning", "text": "**Planning**"},
            },
            script.sleep,
        )
        n += 1
        command = {
            "id": f"item_{n}",
            "type": "command_execution",
            "command": f"bash -lc 'echo turn {turn} >> {script.file}'",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        }
        emit({"type": "item.started", "item": command}, script.sleep)
        if script.tool_sleep:
            emit("", script.tool_sleep)
        existed = Path(script.file).exists()
        work(script, turn)
        done = {**command, "aggregated_output": "", "exit_code": 0, "status": "completed"}
        emit({"type": "item.completed", "item": done}, script.sleep)
        n += 1
        change = {
            "id": f"item_{n}",
            "type": "file_change",
            "changes": [
                {"path": str(Path(script.file).resolve()), "kind": "update" if existed else "add"}
            ],
            "status": "completed",
        }
        emit({"type": "item.completed", "item": change}, script.sleep)
        n += 1
    emit(
        {
            "type": "item.completed",
            "item": {"id": f"item_{n}", "type": "agent_message", "text": "Done."},
        }
    )
    if script.exit:
        emit({"type": "turn.failed", "error": {"message": "fake failure"}})
        return script.exit
    emit({"type": "turn.completed", "usage": USAGE})
    return 0


if __name__ == "__main__":
    sys.exit(main())
