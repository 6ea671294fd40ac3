"""What the fakes share: the prompt's directives, line output, SIGTERM and the call log."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Script:
    """The directives found in a prompt (``key=value`` words; a bare word is a flag)."""

    turns: int = 1
    sleep: float = 0.0
    tool_sleep: float = 0.0
    file: str = "hello.txt"
    delete: str = ""
    cost: float = 0.01
    results: str = "end"
    malformed: bool = False
    exit: int = 0

    @classmethod
    def parse(cls, prompt: str) -> Script:
        script = cls()
        for word in prompt.split():
            key, sep, value = word.partition("=")
            if not sep:
                if key == "malformed":
                    script.malformed = True
                continue
            if key in ("turns", "exit"):
                setattr(script, key, int(value))
            elif key in ("sleep", "tool_sleep", "cost"):
                setattr(script, key, float(value))
            elif key in ("file", "delete", "results"):
                setattr(script, key, value)
        return script


def on_sigterm() -> None:
    """Exit 143 at once on SIGTERM, even in the middle of a sleep."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def log_call(argv: list[str]) -> None:
    entry = {"argv": argv, "cwd": os.getcwd(), "home": os.environ.get("HOME")}
    with open("calls.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def emit(event: dict[str, Any] | str, pause: float = 0.0) -> None:
    print(event if isinstance(event, str) else json.dumps(event), flush=True)
    if pause:
        time.sleep(pause)


def work(script: Script, turn: int) -> Path:
    """The file side effect of one tool call."""
    path = Path(script.file)
    with path.open("a") as f:
        f.write(f"turn {turn}\n")
    if script.delete and turn == 1:
        Path(script.delete).unlink(missing_ok=True)
    return path


def bad_lines() -> None:
    emit("this line is not json {")
    emit("[1, 2, 3]")
    emit({"type": "mystery_event", "payload": {"kept": True}})
