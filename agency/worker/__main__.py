"""``python -m agency.worker``: the ``agency worker`` command without the rest of the CLI."""

from agency.worker.command import app

app(prog_name="agency worker")
