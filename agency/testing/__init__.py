"""The test harness shared by agency's tests and benchmarks (and by anyone testing against
agency): real control planes, real workers, and bounded waits, all on 127.0.0.1.

    from agency.testing import serve, start_worker, wait_for

- ``serve``: the control plane in this process on a real port (``Stack``: its URL, an
  ``httpx`` or ``AgencyClient`` with a token, ``call`` onto its loop, ``add_worker``);
- ``start_control_plane``: ``agency up`` as a subprocess (``UpProcess``);
- ``running_stack``: ``agency up`` plus ``panel serve`` of the dashboard, for browser tests
  (``CHROMIUM_ARGS`` are the headless flags; Playwright stays the caller's import);
- ``start_worker``: a real ``agency worker`` process (``WorkerProc``);
- the orchestrator alone: ``quick_settings``, ``register``, ``Heartbeats``, ``wait_until``,
  ``assert_replays``; ``python -m agency.testing.headless`` runs it as a process to kill;
- stand-ins: ``Receiver`` (records what a worker posts to its control plane) and
  ``running_fake_worker`` (a worker-protocol server that misbehaves on command);
- ``free_port``/``free_ports``, ``wait_for``/``wait_healthy``, ``stop_process``, ``clean_env``.

Nothing here imports pytest or Playwright: the package ships with agency. Nothing else in
agency imports it (an import-linter contract).
"""

from agency.testing.dashboard import (
    CHROMIUM_ARGS,
    DASHBOARD_ADMIN_TOKEN,
    DashboardStack,
    running_stack,
)
from agency.testing.fake_worker import FakeWorker, running_fake_worker
from agency.testing.orchestrator import (
    QUICK,
    REPLAYED,
    Heartbeats,
    Member,
    assert_replays,
    quick_settings,
    register,
    state_of,
    task_events,
    wait_until,
)
from agency.testing.ports import free_port, free_ports
from agency.testing.processes import BIN, clean_env, pid_alive, stop_process
from agency.testing.receiver import Received, Receiver
from agency.testing.stack import ADMIN, WORKER, Stack, serve
from agency.testing.up import UpProcess, start_control_plane
from agency.testing.waiting import START_TIMEOUT, wait_for, wait_healthy
from agency.testing.workers import (
    FINAL_STATES,
    WorkerProc,
    start_worker,
    wait_state,
    worker_env,
    worker_task,
)

__all__ = [
    "ADMIN",
    "BIN",
    "CHROMIUM_ARGS",
    "DASHBOARD_ADMIN_TOKEN",
    "FINAL_STATES",
    "QUICK",
    "REPLAYED",
    "START_TIMEOUT",
    "WORKER",
    "DashboardStack",
    "FakeWorker",
    "Heartbeats",
    "Member",
    "Received",
    "Receiver",
    "Stack",
    "UpProcess",
    "WorkerProc",
    "assert_replays",
    "clean_env",
    "free_port",
    "free_ports",
    "pid_alive",
    "quick_settings",
    "register",
    "running_fake_worker",
    "running_stack",
    "serve",
    "start_control_plane",
    "start_worker",
    "state_of",
    "stop_process",
    "task_events",
    "wait_for",
    "wait_healthy",
    "wait_state",
    "wait_until",
    "worker_env",
    "worker_task",
]
