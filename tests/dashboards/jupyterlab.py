"""A real JupyterLab server for the notebook tests: the venv's ``jupyter lab`` on a free
127.0.0.1 port, its own Jupyter directories (so the venv's ``python3`` kernelspec is the one
found), no network calls of its own (no news, no update check, read-only extension manager),
stopped by pid at the end. Plus the notebook files it opens and the README's cell."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from agency.testing import BIN, free_port, stop_process, wait_for

#: JupyterLab's own settings: no "notified about news?" prompt, no update check.
OFFLINE_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Lab:
    """A running JupyterLab: where it is, its token and the folder it serves."""

    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        """The notebook alone in JupyterLab (``reset``: no tabs restored from the workspace)."""
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def setting(self, plugin: str, key: str) -> object:
        """A JupyterLab setting as it applies (defaults, overrides, user settings)."""
        answer = httpx.get(
            f"{self.url}/lab/api/settings/{plugin}", params={"token": self.token}, timeout=10
        ).json()
        return answer["settings"].get(key, answer["schema"]["properties"][key].get("default"))

    def kernel_state(self, name: str) -> str | None:
        """The execution state of the kernel of the notebook's session, if it has one."""
        for session in self.api("sessions"):  # type: ignore[attr-defined]
            if session.get("path") == name and session.get("kernel"):
                return str(session["kernel"].get("execution_state"))
        return None

    def api(self, path: str) -> object:
        return httpx.get(f"{self.url}/api/{path}", params={"token": self.token}, timeout=10).json()


def readme_cell() -> str:
    """The README's notebook cell, as printed (the first python block of "## A notebook")."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## A notebook", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "README.md: no python cell in the 'A notebook' section"
    return found.group(1).rstrip("\n")


def write_notebook(path: Path, cells: list[str]) -> Path:
    """An nbformat 4 notebook of code cells, on the ``python3`` kernel."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


@contextmanager
def running_lab(home: Path, env: Mapping[str, str]) -> Iterator[Lab]:
    """``jupyter lab`` serving ``home/notebooks``, its kernels seeing ``env``."""
    root, settings = home / "notebooks", home / "settings"
    root.mkdir(parents=True, exist_ok=True)
    for name, values in OFFLINE_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    lab_env = {
        **os.environ,
        **env,
        # the venv's share/jupyter comes first: its python3 kernelspec, its lab extensions
        "JUPYTER_PREFER_ENV_PATH": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    argv = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = open(home / "jupyterlab.log", "wb")  # noqa: SIM115  (closed after the process stops)
    proc = subprocess.Popen(
        argv, cwd=root, env=lab_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: (
                httpx.get(f"{url}/api/status", params={"token": token}, timeout=5).status_code
                == 200
            ),
            90,
            "JupyterLab",
            every=0.5,
        )
        yield Lab(url=url, token=token, root=root)
    finally:
        try:  # kernels run in sessions of their own: ask the server to stop them first
            for kernel in httpx.get(
                f"{url}/api/kernels", params={"token": token}, timeout=5
            ).json():
                httpx.delete(
                    f"{url}/api/kernels/{kernel['id']}", params={"token": token}, timeout=30
                )
        except httpx.HTTPError:
            pass  # the server is gone already; stopping it below is all that is left
        stop_process(proc)
        log.close()
