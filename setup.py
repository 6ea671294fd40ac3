"""The one packaging rule pyproject.toml cannot say: the folder ``dashboards/`` ships as the
package ``agency_dashboards``, so no generic top-level ``dashboards`` lands in site-packages
(``[tool.setuptools.packages]`` takes either a list or a search, and the search only finds
packages under their folder's name). Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

DASHBOARDS = "agency_dashboards"

setup(
    packages=[
        *find_namespace_packages(include=["agency", "agency.*"]),
        DASHBOARDS,
        *(f"{DASHBOARDS}.{p}" for p in find_namespace_packages(where="dashboards")),
    ],
    package_dir={DASHBOARDS: "dashboards"},
)
