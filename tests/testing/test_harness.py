"""The harness's small parts: ports, waits, environments and stopping processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from agency.testing import clean_env, free_ports, pid_alive, stop_process, wait_for


def test_free_ports_are_consecutive_and_bindable() -> None:
    base = free_ports(3)
    socks = []
    try:
        for port in range(base, base + 3):
            sock = socket.socket()
            socks.append(sock)
            sock.bind(("127.0.0.1", port))
    finally:
        for sock in socks:
            sock.close()
    assert 20_000 <= base < 32_768  # below the kernel's ephemeral range


def test_wait_for_returns_the_first_truthy_answer_and_rides_out_errors() -> None:
    answers = iter([ConnectionError("not up"), 0, "", {"ok": True}])

    def check() -> object:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for(check, 5, "the server", every=0.01) == {"ok": True}


def test_wait_for_names_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match=r"waiting for the moon \(last: False\)"):
        wait_for(lambda: False, 0.1, "the moon", every=0.02)


def test_clean_env_drops_the_callers_agency_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENCY_TOKEN", "from-the-shell")
    env = clean_env({"AGENCY_DATA_DIR": "/tmp/x"})
    assert env["AGENCY_DATA_DIR"] == "/tmp/x" and "AGENCY_TOKEN" not in env
    assert env["PATH"]


def test_stop_process_kills_a_stuck_session_with_what_it_started() -> None:
    # a shell that ignores SIGTERM and has a child: both must be gone after the grace
    script = "trap '' TERM; sleep 60 & echo $!; wait"
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    started = time.monotonic()
    code = stop_process(proc, grace=0.5)
    assert code == -9 and time.monotonic() - started < 10
    wait_for(lambda: not pid_alive(child), 5, "the child to be killed with its group")


def test_stop_process_returns_the_exit_code_of_a_clean_stop() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stop_process(proc) == -15  # SIGTERM's default action
