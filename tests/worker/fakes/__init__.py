"""Fake ``claude`` and ``codex`` executables that print the real CLIs' JSON formats.

    bins = install(tmp_path / "bin")        # {"claude": Path, "codex": Path}
    env = {"AGENCY_CLAUDE_BIN": str(bins["claude"]), "AGENCY_CODEX_BIN": str(bins["codex"])}

The prompt steers them with ``key=value`` words (see ``script.Script``): ``turns=3``,
``sleep=0.2`` (between lines), ``tool_sleep=60`` (after a tool call, before its result),
``file=hello.txt``, ``delete=old.txt``, ``cost=0.5`` (Claude, per turn), ``results=each``
(Claude: a result line after every turn), ``malformed`` (a few lines that are not events),
``exit=3``. Each call appends its argv and cwd to ``calls.jsonl`` in its cwd; both exit
143 on SIGTERM.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("claude", "codex")


def install(bin_dir: Path) -> dict[str, Path]:
    """Write the executables (shebang: this interpreter) into ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in NAMES:
        path = bin_dir / name
        path.write_text(
            f"#!{sys.executable}\n"
            "import runpy, sys\n"
            f"sys.path.insert(0, {str(HERE)!r})\n"
            f"runpy.run_path({str(HERE / f'fake_{name}.py')!r}, run_name='__main__')\n"
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        made[name] = path
    return made
