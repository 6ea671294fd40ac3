"""The control planes of the API tests: how each starts, and the names of its users.

``tests/api/conftest.py`` starts one per module (``pytestmark = pytest.mark.plane("limits")``
picks one; the default is ``fleet``); other suites that need the same limits import ``LIMITS``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: a 100-row cap, a 1 s query timeout and a 4 KiB body limit: the refusals are reachable
LIMITS: dict[str, Any] = {"query_row_cap": 100, "query_timeout": 1.0, "max_body_bytes": 4096}


class Plane(NamedTuple):
    """How a module's control plane starts, and the names of its operator and viewer."""

    options: dict[str, Any]
    operator: str
    viewer: str


PLANES = {
    "fleet": Plane({"workers": 1}, "olga", "vera"),
    "limits": Plane(LIMITS, "olivia", "victor"),
}
