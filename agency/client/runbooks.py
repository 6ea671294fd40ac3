"""Notebook runbooks: discovery, typed parameters, headless execution with papermill, audited runs.

    from agency.client import AgencyClient
    from agency.client.runbooks import RunbookRunner
    with AgencyClient() as client:
        run = RunbookRunner(client).run("fleet_health", {"hours": "2"})
    run.status, run.output_path                     # recorded through POST /api/v1/runbooks/runs

A runbook is ``<runbook dir>/<name>.ipynb`` with a ``parameters``-tagged cell (papermill). The
kernel gets the control plane's URL and token as ``AGENCY_URL``/``AGENCY_TOKEN`` in its
environment, never as injected parameters, so no secret is written into an executed notebook.
Every run is recorded, also a refused one (unknown runbook, unknown parameter, wrong type).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import papermill
from nbformat import NotebookNode

from agency.client import endpoints as ep
from agency.client.runbook_params import (
    RunbookParameter,
    coerce_parameters,
    read_notebook,
    read_parameters,
)
from agency.client.settings import RunbookSettings
from agency.client.sync import AgencyClient
from agency.errors import AgencyError, NotFound, ValidationFailed
from agency.models import RunbookRun, utcnow

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KERNEL",
    "Execution",
    "Runbook",
    "RunbookParameter",
    "RunbookRunner",
    "RunbookSettings",
    "coerce_parameters",
    "execute",
    "find_runbook",
    "list_runbooks",
    "list_runs",
    "read_parameters",
    "record_run",
    "runbook_dir",
]

KERNEL = "python3"
# the connection comes from the runner's client (its --url/--token), through the environment
CONNECTION_PARAMS = frozenset({"url", "token"})
_ENV_LOCK = threading.Lock()  # the kernel inherits os.environ: one runbook at a time per process
REPOSITORY = Path(__file__).resolve().parents[2]


def runbook_dir(settings: RunbookSettings) -> Path:
    """Where runbooks live: ``AGENCY_RUNBOOK_DIR``, else ``notebooks/`` beside the package."""
    return settings.runbook_dir or REPOSITORY / "notebooks"


@dataclass(frozen=True)
class Runbook:
    """One runbook notebook: its name (file stem), path, and what its first cell says."""

    name: str
    path: Path

    def _intro(self) -> list[str]:
        nb = read_notebook(self.path)
        first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        return (
            []
            if first is None
            else [p.strip() for p in str(first.source).split("\n\n") if p.strip()]
        )

    @property
    def summary(self) -> str:
        """The title: the first markdown cell's heading (or first line)."""
        intro = self._intro()
        return intro[0].splitlines()[0].lstrip("#").strip() if intro else ""

    @property
    def purpose(self) -> str:
        """When to use it: the first markdown cell's text under its heading, on one line."""
        body = [p for p in self._intro() if not p.startswith("#")]
        return " ".join(" ".join(body).replace("**", "").split())

    def parameters(self) -> dict[str, RunbookParameter]:
        """The runbook's own parameters (the connection ones, url and token, left out)."""
        return {k: v for k, v in read_parameters(self.path).items() if k not in CONNECTION_PARAMS}


def list_runbooks(settings: RunbookSettings | None = None) -> list[Runbook]:
    """Every runbook, by name."""
    folder = runbook_dir(settings or RunbookSettings.load())
    if not folder.is_dir():
        return []
    return [
        Runbook(p.stem, p) for p in sorted(folder.glob("*.ipynb")) if not p.name.startswith(".")
    ]


def find_runbook(name: str, settings: RunbookSettings | None = None) -> Runbook:
    """The runbook called ``name``; ``NotFound`` listing the known ones."""
    books = list_runbooks(settings)
    for book in books:
        if book.name == name:
            return book
    known = ", ".join(b.name for b in books) or "(none)"
    raise NotFound(
        f"no runbook {name!r}; known runbooks: {known}",
        details={"runbook": name, "known": [b.name for b in books]},
    )


@dataclass(frozen=True)
class Execution:
    """What one papermill execution produced."""

    status: str  # succeeded | failed
    output_path: Path
    duration_s: float
    error: str | None = None


@contextlib.contextmanager
def _kernel_env(env: Mapping[str, str]) -> Iterator[None]:
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, papermill.PapermillExecutionError):
        return f"{exc.ename}: {exc.evalue} (cell In [{exc.exec_count}])"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")


def execute(
    book: Runbook,
    parameters: Mapping[str, Any],
    output_dir: Path,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    progress: bool = False,
) -> Execution:
    """Run ``book`` headless into ``output_dir/<name>-<utc time>.ipynb``.

    ``timeout`` bounds the whole run: each cell may use what is left of it (nbclient's
    ``timeout_func``), so a hung cell or kernel ends the run as failed. A failing cell fails
    the run with its error; the executed notebook is kept either way.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{book.name}-{utcnow():%Y%m%dT%H%M%S%fZ}.ipynb"
    start = time.monotonic()
    deadline = start + timeout

    def remaining(cell: NotebookNode) -> int:
        return max(1, int(deadline - time.monotonic() + 0.999))  # 0 would mean "no limit"

    error: str | None = None
    try:
        with _kernel_env(env or {}):
            papermill.execute_notebook(
                str(book.path),
                str(output),
                parameters=dict(parameters),
                kernel_name=KERNEL,
                progress_bar=progress,
                cwd=str(output_dir),
                execution_timeout=max(1, int(timeout)),
                timeout_func=remaining,
                start_timeout=min(60, max(1, int(timeout))),
            )
    except (
        Exception
    ) as exc:  # any failure of the run (cell error, timeout, dead kernel) is its outcome
        error = _error_text(exc)
    return Execution("failed" if error else "succeeded", output, time.monotonic() - start, error)


# --- recording through the API --------------------------------------------------------------


def record_run(
    client: AgencyClient,
    *,
    name: str,
    parameters: Mapping[str, Any],
    status: str,
    output_path: str | None = None,
    error: str | None = None,
    started_at: datetime | None = None,
    duration_s: float | None = None,
) -> RunbookRun:
    """``POST /api/v1/runbooks/runs``: the control plane names the run's actor (the token)."""
    body = {
        "name": name,
        "parameters": dict(parameters),
        "status": status,
        "output_path": output_path,
        "error": error,
        "started_at": started_at,
        "duration_s": duration_s,
    }
    return client._do(ep.record_runbook_run(body))


def list_runs(
    client: AgencyClient,
    *,
    name: str | None = None,
    actor: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Recorded runs, newest first, as a DataFrame."""
    return client._do(ep.runbook_runs(name, actor, status, limit))


class RunbookRunner:
    """Validates, executes and records runbook runs for one client (and so one actor)."""

    def __init__(self, client: AgencyClient, settings: RunbookSettings | None = None) -> None:
        self.client = client
        self.settings = settings or RunbookSettings.load()

    @property
    def output_dir(self) -> Path:
        return (self.settings.data_dir / "runbooks").resolve()

    def run(self, name: str, raw: Mapping[str, Any], *, progress: bool = False) -> RunbookRun:
        """Run ``name`` with ``raw`` parameters (strings are parsed by the declared type).

        The control plane must answer first (``ServiceUnavailable`` otherwise: nothing runs,
        nothing can be recorded). A refused request is recorded as a failed run and then
        raised (``NotFound``, ``ValidationFailed``); an execution is recorded as it ended.
        """
        self.client.whoami()
        started = utcnow()
        try:
            book = find_runbook(name, self.settings)
            if CONNECTION_PARAMS & set(raw):
                raise ValidationFailed(
                    "url and token are not parameters here: give --url/--token "
                    "(or AGENCY_URL/AGENCY_TOKEN)",
                    details={"runbook": name},
                )
            params = coerce_parameters(book.name, book.parameters(), raw)
        except AgencyError as exc:
            record_run(
                self.client,
                name=name,
                parameters=_jsonable(raw),
                status="failed",
                error=exc.message,
                started_at=started,
                duration_s=0.0,
            )
            raise
        env = {
            "AGENCY_URL": self.client.url,
            "AGENCY_DATA_DIR": str(self.settings.data_dir.resolve()),
        }
        if self.client.token:
            env["AGENCY_TOKEN"] = self.client.token
        outcome = execute(
            book,
            params,
            self.output_dir,
            timeout=self.settings.runbook_timeout,
            env=env,
            progress=progress,
        )
        return record_run(
            self.client,
            name=name,
            parameters=params,
            status=outcome.status,
            output_path=str(outcome.output_path),
            error=outcome.error,
            started_at=started,
            duration_s=round(outcome.duration_s, 3),
        )


def _jsonable(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(k): v if isinstance(v, str | int | float | bool | None | list | dict) else str(v)
        for k, v in raw.items()
    }
