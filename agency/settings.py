"""Every agency setting, declared once: name, default and help.

A setting ``foo_bar`` is read from the environment variable ``AGENCY_FOO_BAR`` and can be
overridden by a CLI flag. ``Settings.describe()`` feeds ``agency settings`` and the test of
docs/configuration.md, which fails when a setting is undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agency.errors import ConfigError

PREFIX = "AGENCY_"


class Settings(BaseModel):
    """Configuration of every agency process; build it with ``Settings.load()``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- control plane --------------------------------------------------------------------
    data_dir: Path = Field(
        Path("data"),
        description="Directory of the DuckDB file, runbook outputs and the generated admin token.",
    )
    db_path: Path | None = Field(
        None, description="DuckDB file; default `<AGENCY_DATA_DIR>/agency.duckdb`."
    )
    host: str = Field(
        "127.0.0.1",
        description="Address the control plane listens on. Beyond loopback it refuses to start without auth.",
    )
    port: int = Field(8080, ge=0, le=65535, description="Port of the control plane's HTTP API.")
    admin_token: str | None = Field(
        None,
        description="Bootstrap admin token; when unset one is generated into `<AGENCY_DATA_DIR>/admin.token` (mode 0600).",
    )
    log_level: str = Field("INFO", description="Python log level of every agency process.")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text` for people, `json` for machines (one object per line with its fields).",
    )
    workers: int = Field(
        2,
        ge=0,
        le=64,
        description="Local workers `agency up` starts beside the control plane (0 for none).",
    )
    worker_base_port: int = Field(
        8101,
        ge=1,
        le=65535,
        description="Port of the first local worker `agency up` starts; the next ones count up.",
    )
    dashboard: bool = Field(
        True, description="Whether `agency up` also serves the Panel dashboard."
    )
    dashboard_port: int = Field(5006, ge=1, le=65535, description="Port of the Panel dashboard.")
    dashboard_app: Path | None = Field(
        None,
        description="Panel app `agency up` serves; default: `app.py` of the installed `agency_dashboards` package, i.e. the repo's `dashboards/app.py`.",
    )
    demo: bool = Field(
        False,
        description="Whether `agency up` seeds demo data (tasks, an alert, a saved query, a chat session, an hour of KPIs; remove with `agency demo remove`).",
    )

    # --- clients (CLI, notebooks, dashboard) ----------------------------------------------
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
    allowed_hosts: str = Field(
        "127.0.0.1,localhost,::1",
        description="Comma-separated hosts that worker registration and the dashboard's backend may talk to (SSRF guard).",
    )

    # --- storage and user SQL -------------------------------------------------------------
    write_batch_max: int = Field(
        2000,
        ge=1,
        description="Most queued writes the writer commits in one transaction (group commit).",
    )
    query_row_cap: int = Field(
        10_000,
        ge=1,
        description="Most rows a user query (saved query, notebook, chat `/sql`) returns.",
    )
    query_timeout: float = Field(
        5.0, gt=0, description="Seconds before a user query is interrupted."
    )

    # --- worker runtime -------------------------------------------------------------------
    worker_id: str | None = Field(None, description="Worker id; default `<hostname>-<port>`.")
    worker_host: str = Field("127.0.0.1", description="Address `agency worker` listens on.")
    worker_tls_cert: str | None = Field(
        None, description="PEM certificate: `agency worker` serves HTTPS with it."
    )
    worker_tls_key: str | None = Field(None, description="PEM private key of `worker_tls_cert`.")
    worker_port: int = Field(8101, ge=0, le=65535, description="Port `agency worker` listens on.")
    worker_capacity: int = Field(4, ge=1, description="Tasks a worker runs at once; more get 409.")
    worker_labels: str = Field(
        "", description="Worker labels as `k=v,k2=v2`, matched against task labels."
    )
    worker_roots: str = Field(
        "",
        description="Colon-separated allowed roots for task paths; default `<AGENCY_DATA_DIR>/workspaces`.",
    )
    worker_token: str | None = Field(
        None, description="Token the worker presents to the control plane (role worker)."
    )
    worker_advertise_url: str | None = Field(
        None,
        description="URL the worker registers for the control plane to call it (behind NAT, a container or a proxy); default `http://<host>:<port>`.",
    )
    control_plane: str | None = Field(
        None,
        description="Control-plane URL a worker registers with; none runs the worker standalone.",
    )
    sandbox: Literal["auto", "required", "off"] = Field(
        "auto",
        description="`auto` uses bubblewrap when installed, `required` refuses tasks without it, `off` never uses it.",
    )
    agent_command: str = Field(
        "claude -p {prompt}",
        description="Command template of the `agent` task kind; `{prompt}` becomes one argument, never shell-interpolated.",
    )
    agent_runtime: Literal["claude", "codex", "command"] = Field(
        "command",
        description="Runtime of an `agent` task whose spec names none: `claude` (Claude Code, stream-json transcript), `codex` (Codex CLI, `exec --json` transcript) or `command` (`AGENCY_AGENT_COMMAND`, plain output).",
    )
    claude_bin: str = Field(
        "claude",
        description="Claude Code executable of the `claude` runtime (split like a shell line, so it may carry extra flags such as `--permission-mode acceptEdits`).",
    )
    codex_bin: str = Field(
        "codex",
        description="Codex CLI executable of the `codex` runtime (split like a shell line, so it may carry flags that go before `exec`, such as `-c` config overrides).",
    )
    changes_max_bytes: int = Field(
        262_144,
        ge=1024,
        description="Most bytes of unified diff a worker records per attempt (`GET /task/{id}/changes`); the rest is cut and marked truncated.",
    )
    task_token_ttl: float = Field(
        3600.0,
        gt=0,
        le=7 * 86400,
        description="Seconds the scoped token of a process task without a timeout or deadline lives at most (`AGENCY_TOKEN` in the task); it also ends with the attempt.",
    )
    cancel_grace: float = Field(
        5.0,
        ge=0,
        description="Seconds between SIGTERM and SIGKILL when a task is canceled or passes its deadline.",
    )
    heartbeat_interval: float = Field(
        2.0,
        gt=0,
        description="Seconds between worker heartbeats; three missed make the worker unhealthy.",
    )
    fault_fail_first: int = Field(
        0, ge=0, description="Fault drill: the worker answers 503 to its first N requests."
    )
    fault_latency_ms: float = Field(
        0.0, ge=0, description="Fault drill: latency the worker adds to every request."
    )
    fault_drop_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Fault drill: share of requests whose connection the worker drops without an answer.",
    )

    # --- worker client (fleet) ------------------------------------------------------------
    http_client: Literal["httpx", "aiohttp"] = Field(
        "aiohttp", description="HTTP client the control plane uses to talk to workers."
    )
    request_timeout: float = Field(
        10.0, gt=0, description="Seconds before one call to a worker times out."
    )
    retry_attempts: int = Field(
        4,
        ge=1,
        description="Most attempts of one worker call (retried only on connect errors, timeouts, 502/503/504).",
    )
    retry_max_seconds: float = Field(
        15.0, gt=0, description="Most total seconds spent retrying one worker call."
    )
    retry_backoff: float = Field(
        0.05, gt=0, description="Base seconds of the exponential, fully jittered retry backoff."
    )
    breaker_fail_max: int = Field(
        5, ge=1, description="Consecutive failures that open a worker's circuit breaker."
    )
    breaker_reset: float = Field(
        10.0, gt=0, description="Seconds an open breaker waits before a half-open trial call."
    )
    max_in_flight: int = Field(
        16, ge=1, description="Most concurrent requests on one worker's HTTP client."
    )

    # --- orchestrator ---------------------------------------------------------------------
    default_max_attempts: int = Field(
        3, ge=1, description="Attempts of a task whose retry policy does not say."
    )
    poll_interval: float = Field(
        2.0,
        gt=0,
        description="Seconds between polls of running tasks (the fallback to pushed reports).",
    )
    kpi_sample_interval: float = Field(
        5.0, gt=0, description="Seconds between KPI samples written to the database for charts."
    )
    failure_rate_alert: float = Field(
        0.5, ge=0, le=1, description="Failure rate over the last 5 minutes that raises an alert."
    )
    model_prices: str = Field(
        "",
        description='JSON object of model name prefix -> USD per million tokens `{"input", "output", "cache_read", "cache_write"}`, merged over the built-in table (docs/configuration.md); prices runs whose runtime reports no cost (set it on workers too: they hold `max_cost_usd` to it while a run runs).',
    )
    transcript_poll_interval: float = Field(
        0.5,
        gt=0,
        description="Seconds between reads of a running agent task's transcript from its worker (the live view).",
    )

    # --- scheduler ------------------------------------------------------------------------
    schedule_tick_interval: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest the scheduler sleeps between looks at its schedules (it wakes sooner when a slot is due or a schedule changes).",
    )
    schedule_misfire_grace: float = Field(
        60.0,
        ge=0,
        description="Seconds late a schedule slot still fires as on time; older slots were missed and follow the schedule's catch-up policy.",
    )
    fault_schedule_crash: Literal["off", "recorded", "submitted"] = Field(
        "off",
        description="Fault drill: the control plane SIGKILLs itself during a schedule fire, once the fire is recorded or once its task is submitted.",
    )

    # --- API ------------------------------------------------------------------------------
    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest request body or WebSocket message accepted (bigger gets 413).",
    )
    rate_limit: float = Field(
        200.0,
        gt=0,
        description="Requests per second allowed per token (burst of twice that); over it gets 429.",
    )
    refusal_sample_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between audit events of one kind of refusal (401, 403, 429, worker registration) per token or source address; the next event counts the refusals left out.",
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS; empty disables CORS."
    )
    auth: bool = Field(
        True,
        description="Require bearer tokens. `false` makes every caller an admin named `anonymous` and is refused beyond loopback.",
    )
    sse_ping_interval: float = Field(
        15.0, gt=0, description="Seconds between keep-alive comments on the SSE streams."
    )
    sse_metrics_interval: float = Field(
        1.0, gt=0, description="Seconds between KPI snapshots on `/api/v1/metrics/stream`."
    )
    llm_url: str | None = Field(
        None,
        description="OpenAI-compatible chat endpoint for free-text chat; unset means chat answers commands only.",
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to `AGENCY_LLM_URL`.")
    llm_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds the chat assistant waits for the language model (connect, and between streamed pieces).",
    )

    # --- security -------------------------------------------------------------------------
    keystore: Literal["env", "file", "keyring", "vault"] = Field(
        "file",
        description="Where secrets live: environment, an encrypted file, the OS keyring or HashiCorp Vault.",
    )
    master_key: str | None = Field(
        None, description="Fernet key of the encrypted secrets file; default: the OS keyring."
    )
    vault_url: str | None = Field(
        None, description="HashiCorp Vault URL (KV v2); when set the vault keystore is available."
    )
    vault_token: str | None = Field(None, description="Token for `AGENCY_VAULT_URL`.")
    checkpoint_every: int = Field(
        1000,
        ge=0,
        description="Events between signed checkpoints of the audit chain's head (0 turns checkpoints off).",
    )
    checkpoint_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds after which new events get a signed checkpoint even below `AGENCY_CHECKPOINT_EVERY`.",
    )
    checkpoint_dir: Path | None = Field(
        None,
        description="Extra directory (e.g. another disk or a mounted share) that also gets every checkpoint line.",
    )
    checkpoint_url: str | None = Field(
        None,
        description="HTTPS endpoint that also gets every checkpoint line (POSTed as JSON).",
    )

    # --- runbooks -------------------------------------------------------------------------
    runbook_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds a runbook may run before it is stopped and recorded as failed.",
    )
    runbook_dir: Path | None = Field(
        None,
        description="Directory of the runbook notebooks `agency runbook` lists and runs; default the repository's `notebooks/`.",
    )

    @property
    def database_path(self) -> Path:
        """The DuckDB file this process uses."""
        return self.db_path if self.db_path is not None else self.data_dir / "agency.duckdb"

    @property
    def allowed_host_set(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``AGENCY_*`` variables, then CLI overrides (``None`` is ignored)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = PREFIX + name.upper()
            if key in env and env[key] != "":
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

    @classmethod
    def describe(cls) -> list[dict[str, str]]:
        """Name, default and help of every setting, in declaration order."""
        rows = []
        for name, field in cls.model_fields.items():
            default = field.default
            rows.append(
                {
                    "name": PREFIX + name.upper(),
                    "default": "" if default is None else str(default),
                    "help": field.description or "",
                }
            )
        return rows
