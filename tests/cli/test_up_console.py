"""The console of ``agency up`` (issue 14, item 2): the banner comes once everything answers,
nothing follows it while idle at the default level, and ``--log-format json`` is JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agency.testing import free_port

LAST_BANNER_LINE = "Ctrl-C (or SIGTERM) stops everything."
IDLE_SECONDS = 6.0


@contextmanager
def agency_up(
    tmp_path: Path, *flags: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path, dict[str, int]]]:
    ports = {"api": free_port(), "worker": free_port(), "dashboard": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    env.update({"AGENCY_CANCEL_GRACE": "2", "AGENCY_HEARTBEAT_INTERVAL": "0.5"})
    log_path = tmp_path / "up.log"
    argv = [
        sys.executable, "-m", "agency", "up",
        "--port", str(ports["api"]),
        "--workers", "1",
        "--worker-base-port", str(ports["worker"]),
        "--data-dir", str(tmp_path / "data"),
        "--dashboard-port", str(ports["dashboard"]),
        *flags,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            yield proc, log_path, ports
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_banner(proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if LAST_BANNER_LINE in text:
            return text
        assert proc.poll() is None, text
        time.sleep(0.05)
    raise AssertionError(f"no banner after {timeout}s:\n{log.read_text(errors='replace')}")


@pytest.mark.slow
def test_the_banner_comes_last_and_stays_visible(tmp_path: Path) -> None:
    with agency_up(tmp_path) as (proc, log, ports):
        text = wait_banner(proc, log)
        # the moment it is printed, what it names answers
        assert httpx.get(f"http://127.0.0.1:{ports['api']}/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports['dashboard']}/app").status_code == 200
        assert "not answering yet" not in text
        time.sleep(IDLE_SECONDS)  # heartbeats every 0.5 s meanwhile
        after = log.read_text(errors="replace")
        assert after.endswith(LAST_BANNER_LINE + "\n"), after[len(text) - 200 :]


@pytest.mark.slow
def test_log_format_json_lines_parse(tmp_path: Path) -> None:
    with agency_up(tmp_path, "--log-format", "json", "--log-level", "debug", "--no-dashboard") as (
        proc,
        log,
        _,
    ):
        text = wait_banner(proc, log)
        time.sleep(1.0)
        text = log.read_text(errors="replace")
    banner = text[text.index("agency control plane") :].split(LAST_BANNER_LINE)[0]
    records = []
    for line in text.replace(banner, "").splitlines():
        if not line.strip() or line == LAST_BANNER_LINE:
            continue
        records.append(json.loads(line))  # every log line of every process is one object
    assert records and {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["level"] == "DEBUG" for r in records)
