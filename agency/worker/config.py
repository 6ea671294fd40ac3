"""What one worker process needs to know, derived once from ``Settings``.

Settings hold raw strings (``k=v,k2=v2`` labels, colon-separated roots); this module parses
them and fixes the directories a worker uses, so the rest of the runtime never re-parses.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from agency.errors import ConfigError
from agency.settings import Settings


def parse_labels(text: str) -> dict[str, str]:
    """``"gpu=a100,zone=eu"`` -> ``{"gpu": "a100", "zone": "eu"}``; a bad pair is a ConfigError."""
    labels: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"worker label {part!r} is not of the form key=value")
        labels[key.strip()] = value.strip()
    return labels


@dataclass(frozen=True)
class WorkerConfig:
    """A worker's identity, roots and directories (all paths absolute and resolved)."""

    id: str
    host: str
    port: int
    capacity: int
    labels: dict[str, str]
    roots: tuple[Path, ...]
    state_dir: Path
    control_plane: str | None
    token: str | None
    settings: Settings = field(repr=False)
    #: the bearer the control plane must present when calling this worker: new at every
    #: start and handed over in the (authenticated) registration, never configured
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    advertise_url: str | None = None

    @property
    def workspace_root(self) -> Path:
        """Task workspaces live under the first allowed root."""
        return self.roots[0]

    @property
    def url(self) -> str:
        """How the control plane reaches this worker: ``--advertise-url``, else the bind host."""
        if self.advertise_url:
            return self.advertise_url
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.settings.worker_tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def tasks_dir(self) -> Path:
        """One small JSON file per task attempt, so a restarted worker knows what it ran."""
        return self.state_dir / "tasks"

    @property
    def sessions_file(self) -> Path:
        """Which workspace holds which agent session (so a resumed run finds its own)."""
        return self.state_dir / "sessions.json"

    @property
    def output_dir(self) -> Path:
        """Captured stdout/stderr, kept apart from the (sandboxed, task-writable) workspaces."""
        return self.state_dir / "output"

    @classmethod
    def from_settings(cls, settings: Settings, port: int | None = None) -> WorkerConfig:
        """Parse the worker settings; ``port`` is the port actually bound (for ``--port 0``)."""
        port = settings.worker_port if port is None else port
        worker_id = settings.worker_id or f"{socket.gethostname()}-{port}"
        data_dir = settings.data_dir.expanduser().resolve()
        raw_roots = [r for r in settings.worker_roots.split(":") if r.strip()]
        roots = tuple(Path(r).expanduser().resolve() for r in raw_roots) or (
            data_dir / "workspaces",
        )
        safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in worker_id)
        return cls(
            id=worker_id,
            host=settings.worker_host,
            port=port,
            capacity=settings.worker_capacity,
            labels=parse_labels(settings.worker_labels),
            roots=roots,
            state_dir=data_dir / "workers" / safe_id,
            control_plane=settings.control_plane.rstrip("/") if settings.control_plane else None,
            token=settings.worker_token,
            settings=settings,
            advertise_url=(
                settings.worker_advertise_url.rstrip("/") if settings.worker_advertise_url else None
            ),
        )

    def make_dirs(self) -> None:
        for path in (*self.roots, self.tasks_dir, self.output_dir):
            path.mkdir(parents=True, exist_ok=True)
