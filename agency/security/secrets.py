"""``${secret:NAME}`` references in task environments, resolved only when a process starts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from agency.security.base import Keystore
from agency.security.redaction import Redactor, global_redactor

#: a reference to a keystore secret inside an environment value
SECRET_REF = re.compile(r"\$\{secret:([A-Za-z_][A-Za-z0-9_]{0,127})\}")


def referenced_secrets(values: Iterable[str] | Mapping[str, str]) -> list[str]:
    """The sorted secret names referenced in these strings (a mapping's values)."""
    items = values.values() if isinstance(values, Mapping) else values
    return sorted({m.group(1) for v in items for m in SECRET_REF.finditer(v)})


def resolve_env(
    env: Mapping[str, str], keystore: Keystore, *, redactor: Redactor | None = None
) -> tuple[dict[str, str], list[str]]:
    """Replace every ``${secret:NAME}`` in ``env``'s values with the secret's value.

    Returns the resolved environment and the secret values used. Each value is also added
    to ``redactor`` (default: the process-wide one) before this returns, so nothing logged
    from here on can show it. A missing secret raises ``agency.errors.NotFound``.
    """
    target = redactor if redactor is not None else global_redactor()
    cache: dict[str, str] = {}

    def lookup(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in cache:
            cache[name] = keystore.get_secret(name)
            target.add(cache[name])
        return cache[name]

    resolved = {key: SECRET_REF.sub(lookup, value) for key, value in env.items()}
    return resolved, list(cache.values())
