"""Notebook runbooks: discovery, typed parameters, headless execution with papermill, audited runs.

    from agency.client import AgencyClient
    from agency.runbooks import RunbookRunner
    with AgencyClient() as client:
        run = RunbookRunner(client).run("fleet_health", {"hours": "2"})
    run.status, run.output_path                     # recorded through POST /api/v1/runbooks/runs

A runbook is ``<runbook dir>/<name>.ipynb`` with a ``parameters``-tagged cell (papermill). The
kernel gets the control plane's URL and token as ``AGENCY_URL``/``AGENCY_TOKEN`` in its
environment, never as injected parameters, so no secret is written into an executed notebook.
Every run is recorded, also a refused one (unknown runbook, unknown parameter, wrong type).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pandas as pd
import papermill
from nbformat import NotebookNode
from papermill.translators import PythonTranslator

from agency.client import AgencyClient
from agency.clientwire import error_from_response, model_frame, transport_error
from agency.errors import AgencyError, NotFound, ValidationFailed
from agency.models import RunbookRun, utcnow
from agency.settings import Settings

__all__ = [
    "KERNEL",
    "Execution",
    "Runbook",
    "RunbookParameter",
    "RunbookRunner",
    "coerce_parameters",
    "execute",
    "find_runbook",
    "list_runbooks",
    "list_runs",
    "record_run",
    "runbook_dir",
]

KERNEL = "python3"
RUNS = "/api/v1/runbooks/runs"
# the connection comes from the runner's client (its --url/--token), through the environment
CONNECTION_PARAMS = frozenset({"url", "token"})
_ENV_LOCK = threading.Lock()  # the kernel inherits os.environ: one runbook at a time per process


# --- parameters ----------------------------------------------------------------------------

_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}
_TRUE, _FALSE = frozenset({"true", "yes", "on", "1"}), frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True)
class RunbookParameter:
    """One parameter of a runbook's ``parameters`` cell: its type (from the annotation, else
    from the default's literal), its default as written, and its ``# help`` comment."""

    name: str
    type: str
    default: str
    help: str

    @property
    def accepts_none(self) -> bool:
        return "None" in self._parts or self.type == "any"

    @property
    def _parts(self) -> list[str]:
        return [p.strip() for p in self.type.split("|")]

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's type (strings are parsed); ``ValueError`` if it is not one."""
        if (
            isinstance(value, str)
            and self.accepts_none
            and value.strip().lower() in ("none", "null")
        ):
            return None
        kinds = [p for p in self._parts if p != "None"]
        for kind in kinds:
            with contextlib.suppress(ValueError, TypeError):
                return _coerce_one(kind, value)
        raise ValueError(f"expected {self.type}")


def _coerce_one(kind: str, value: Any) -> Any:
    if kind not in _TYPES:  # an annotation we do not model (any, a class name): keep JSON or text
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(value)
        return value
    target = _TYPES[kind]
    if not isinstance(value, str):
        if isinstance(value, bool) and target is not bool:
            raise TypeError(kind)  # True is an int to Python, not to an operator
        if target is float and isinstance(value, int):
            return float(value)
        if isinstance(value, target):
            return value
        raise TypeError(kind)
    text = value.strip()
    if target is str:
        return value
    if target is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(kind)
    if target in (int, float):
        return target(text)
    parsed = json.loads(text)
    if not isinstance(parsed, target):
        raise ValueError(kind)
    return parsed


def _declared_type(inferred: str, default: str) -> str:
    if inferred and inferred != "None":
        return inferred
    try:
        literal = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return "any"
    name = type(literal).__name__
    return name if name in _TYPES else "any"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``; ``ValidationFailed`` when it cannot be read as one."""
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:  # NotJSONError and friends are ValueErrors
        raise ValidationFailed(
            f"runbook {path.stem!r} is not a readable notebook: {exc}", details={"path": str(path)}
        ) from exc


def read_parameters(path: Path) -> dict[str, RunbookParameter]:
    """The parameters of the notebook at ``path`` (papermill's parser of the tagged cell)."""
    nb = read_notebook(path)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return {}
    found = PythonTranslator.inspect(tagged[0])
    return {
        p.name: RunbookParameter(
            p.name,
            _declared_type(p.inferred_type_name or "", p.default or ""),
            p.default or "",
            p.help or "",
        )
        for p in found
    }


def coerce_parameters(
    book: str, declared: Mapping[str, RunbookParameter], raw: Mapping[str, Any]
) -> dict[str, Any]:
    """``raw`` checked against ``declared``: ``ValidationFailed`` names each unknown or mistyped one."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        param = declared.get(name)
        if param is None:
            known = ", ".join(sorted(declared)) or "(none)"
            problems.append(f"runbook {book!r} has no parameter {name!r} (its parameters: {known})")
            continue
        try:
            values[name] = param.coerce(value)
        except ValueError:
            problems.append(f"parameter {name!r} must be {param.type}, got {value!r}")
    if problems:
        raise ValidationFailed("; ".join(problems), details={"runbook": book, "problems": problems})
    return values


def runbook_dir(settings: Settings) -> Path:
    """Where runbooks live: ``AGENCY_RUNBOOK_DIR``, else ``notebooks/`` beside the package."""
    return settings.runbook_dir or Path(__file__).resolve().parents[1] / "notebooks"


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


def list_runbooks(settings: Settings | None = None) -> list[Runbook]:
    """Every runbook, by name."""
    folder = runbook_dir(settings or Settings.load())
    if not folder.is_dir():
        return []
    return [
        Runbook(p.stem, p) for p in sorted(folder.glob("*.ipynb")) if not p.name.startswith(".")
    ]


def find_runbook(name: str, settings: Settings | None = None) -> Runbook:
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


def _request(client: AgencyClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(
            method, client.url + path, headers=client.headers, timeout=client.timeout, **kwargs
        )
    except httpx.HTTPError as exc:
        raise transport_error(client.url, exc) from exc
    if response.status_code >= 400:
        raise error_from_response(response)
    return response.json()


def record_run(
    client: AgencyClient,
    *,
    name: str,
    parameters: Mapping[str, Any],
    status: str,
    output_path: str | None = None,
    error: str | None = None,
    started_at: Any = None,
    duration_s: float | None = None,
) -> RunbookRun:
    """``POST /api/v1/runbooks/runs``: the control plane names the run's actor (the token)."""
    body = {
        "name": name,
        "parameters": dict(parameters),
        "status": status,
        "output_path": output_path,
        "error": error,
        "started_at": started_at.isoformat() if started_at else None,
        "duration_s": duration_s,
    }
    return RunbookRun.model_validate(_request(client, "POST", RUNS, json=body))


def list_runs(
    client: AgencyClient,
    *,
    name: str | None = None,
    actor: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Recorded runs, newest first, as a DataFrame."""
    params = {k: v for k, v in {"name": name, "actor": actor, "status": status}.items() if v}
    rows = _request(client, "GET", RUNS, params={**params, "limit": limit})
    return model_frame(RunbookRun, rows)


class RunbookRunner:
    """Validates, executes and records runbook runs for one client (and so one actor)."""

    def __init__(self, client: AgencyClient, settings: Settings | None = None) -> None:
        self.client = client
        self.settings = settings or Settings.load()

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
