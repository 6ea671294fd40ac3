"""The agency dashboard: ``panel serve dashboards/app.py`` (``agency up`` does it for you).

Panel runs this file as a script, outside any package, so it is the one module here that
imports the package by its installed name, ``agency_dashboards`` (setup.py maps this folder
to it); everything it serves is in ``shell.py``.
"""

from __future__ import annotations

from agency_dashboards.shell import build

if __name__.startswith("bokeh_app"):
    build().servable(title="agency")
