"""Real ``ag-agent-claude`` processes on 127.0.0.1, each with the fake Claude CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agency.testing import free_port
from agency.testing.tlscert import fingerprint_of_pem

BIN = Path("/work/shared/agency-agent/bin/ag-agent-claude")
FAKE = Path(__file__).with_name("fake_claude.py")


@dataclass
class Agent:
    """One running agent: its URL, certificate pin and the fake CLI's call log."""

    url: str
    root: Path
    proc: subprocess.Popen[bytes]
    pin: str

    def http(self) -> httpx.Client:
        # the test itself talks to the agent as PROTOCOL.md's recipe does (curl -k)
        return httpx.Client(base_url=self.url, verify=False, timeout=10)

    def calls(self) -> list[dict[str, Any]]:
        log = self.root / "claude.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line]

    def state(self) -> str:
        with self.http() as http:
            return str(http.get("/status").json()["state"])

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.state() != "idle":
            assert time.monotonic() < deadline, "agent did not become idle"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


def start_agent(root: Path) -> Agent:
    """Start the real binary with its agency prompt file and the fake ``claude`` as CLI."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "claude-prod.md").write_text("You are a test agent.\n")
    claude = root / "claude"
    claude.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    claude.chmod(0o755)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "AGENCY_ROOT": str(root),
        "CLAUDE_BIN": str(claude),
        "FAKE_CLAUDE_LOG": str(root / "claude.log"),
    }
    log = (root / "agent.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN), "-port", str(port), "-bind", "127.0.0.1"], env=env, stdout=log, stderr=log
    )
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, (root / "agent.log").read_text()
        try:
            if httpx.get(f"{url}/status", verify=False, timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "ag-agent-claude did not start"
        time.sleep(0.05)
    pin = fingerprint_of_pem(root / "sessions" / ".certs" / "cert.pem")
    return Agent(url=url, root=root, proc=proc, pin=pin)
