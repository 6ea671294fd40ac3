"""The client's own settings: only the ``AGENCY_*`` variables a client reads.

The server's ``agency.settings.Settings`` validates every server setting, so one bad
server-only variable (``AGENCY_WRITE_BATCH_MAX=banana``) would stop a notebook from connecting.
A client reads its connection (``AGENCY_URL``, ``AGENCY_TOKEN``, ``AGENCY_DATA_DIR`` for the
admin token file) and, for the runbook runner, ``AGENCY_RUNBOOK_DIR`` and
``AGENCY_RUNBOOK_TIMEOUT``; nothing else. Names, defaults and help are the server's
(``agency settings`` documents them; a test keeps the two in step).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agency.errors import ConfigError

PREFIX = "AGENCY_"
TOKEN_FILE = "admin.token"


class ClientSettings(BaseModel):
    """Where the control plane is and which token to use; build it with ``load()``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        "http://127.0.0.1:8080",
        description="Control-plane URL used by the CLI, notebooks and the dashboard.",
    )
    token: str | None = Field(
        None,
        description="Bearer token used by the CLI, notebooks and the dashboard; default: the admin token file in the data dir.",
    )
    operator: str | None = Field(
        None,
        description="The person named on every request of the CLI, notebooks and the dashboard (header `X-Agency-Operator`); the audit trail records `<token name> (<operator>)`. The dashboard defaults to the Panel login user, else the OS user.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Directory of the DuckDB file, runbook outputs and the generated admin token.",
    )

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """From ``AGENCY_*`` variables of this class's fields only, then ``overrides``
        (``None`` is ignored); ``ConfigError`` names each bad one."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = PREFIX + name.upper()
            if env.get(key, "") != "":
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from exc


class RunbookSettings(ClientSettings):
    """The runbook runner's settings: the connection's, plus where runbooks live and how long
    one may run."""

    runbook_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds a runbook may run before it is stopped and recorded as failed.",
    )
    runbook_dir: Path | None = Field(
        None,
        description="Directory of the runbook notebooks `agency runbook` lists and runs; default the repository's `notebooks/`.",
    )


def current_task(env: Mapping[str, str] | None = None) -> str | None:
    """The task this process runs as (``AGENCY_TASK_ID``, set by the worker), if any: what
    it submits becomes that task's child unless it names another ``parent_id``."""
    env = os.environ if env is None else env
    return env.get("AGENCY_TASK_ID") or None


def resolve(
    url: str | None, token: str | None, settings: ClientSettings | None = None
) -> tuple[str, str | None]:
    """URL and token: arguments, else settings (``AGENCY_URL``/``AGENCY_TOKEN``), else the
    admin token file the local control plane wrote into the data dir."""
    settings = settings or ClientSettings.load()
    url = (url or settings.url).rstrip("/")
    if token is None:
        token = settings.token
    if token is None:
        path = settings.data_dir / TOKEN_FILE
        if path.exists():
            token = path.read_text().strip() or None
    return url, token
