"""The agency dashboard: Panel pages over ``agency.client``.

This folder is installed as the package ``agency_dashboards`` (setup.py maps it), so it never
collides with another distribution's top-level ``dashboards``. Its modules import each other
relatively and so are the same code under either name: Python imports ``agency_dashboards``,
mypy and ruff read the folder. They may import ``agency.client``, ``agency.models`` and
``agency.errors`` only (an import-linter contract).

``pages/<name>.py`` builds one page's widgets and calls ``data/<name>.py``, plain functions
over a client that tests call directly. ``app.py`` is the script ``panel serve`` runs;
``shell.py`` puts the pages in tabs; ``connection``, ``context``, ``live``, ``chat_link`` and
``ui`` are shared by the pages.
"""
