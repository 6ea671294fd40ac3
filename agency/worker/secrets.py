"""``${secret:NAME}`` references in a task's env, resolved only when its process starts.

Values come from the worker's own keystore (opened on first use: a worker whose tasks never
reference a secret needs no keystore). Each task gets its own redactor for its captured
output; the values also go to the process-wide redactor, which masks the worker's logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agency.errors import InvalidSpec, NotFound
from agency.security.base import Keystore
from agency.security.keystore import open_keystore
from agency.security.redaction import Redactor, global_redactor
from agency.security.secrets import referenced_secrets, resolve_env
from agency.settings import Settings

KeystoreFactory = Callable[[], Keystore]


def lazy_keystore(settings: Settings) -> KeystoreFactory:
    """A factory that opens the configured keystore once, on first call."""
    opened: list[Keystore] = []

    def get() -> Keystore:
        if not opened:
            opened.append(open_keystore(settings))
        return opened[0]

    return get


def needs_secrets(env: Mapping[str, str]) -> bool:
    return bool(referenced_secrets(env))


def resolve_task_env(
    env: Mapping[str, str], keystore: KeystoreFactory
) -> tuple[dict[str, str], Redactor]:
    """``env`` with its secret references resolved, and a redactor masking their values.

    A missing secret is the caller's to fix: ``InvalidSpec`` (400) naming it.
    """
    redactor = Redactor()
    try:
        resolved, values = resolve_env(env, keystore(), redactor=redactor)
    except NotFound as exc:
        names = referenced_secrets(env)
        raise InvalidSpec(
            f"the task env references a secret this worker's keystore does not hold: {exc}",
            details={"secrets": names},
        ) from exc
    global_redactor().add(*values)
    return resolved, redactor
