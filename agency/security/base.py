"""The keystore interface every provider implements, and the rule for secret names."""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod

from agency.errors import ValidationFailed

# Names travel into environment variable names, Vault URL paths and file keys: a tight
# alphabet keeps all three safe (no path traversal, no shell surprises).
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_secret_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise ``ValidationFailed``."""
    if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
        raise ValidationFailed(
            f"invalid secret name {name!r}: use letters, digits and _ (not first), at most 128",
            details={"name": str(name)[:140]},
        )
    return name


class Keystore(ABC):
    """Where secrets live. Values are only ever returned by ``get_secret``; ``list`` gives names."""

    #: provider name, as in ``AGENCY_KEYSTORE``
    kind: str = ""

    @abstractmethod
    def get_secret(self, name: str) -> str:
        """The value of ``name``; ``agency.errors.NotFound`` if there is none."""

    @abstractmethod
    def set_secret(self, name: str, value: str) -> None:
        """Create or replace ``name``."""

    @abstractmethod
    def delete_secret(self, name: str) -> None:
        """Remove ``name``; ``agency.errors.NotFound`` if there is none."""

    @abstractmethod
    def list(self) -> builtins.list[str]:
        """The sorted names of every stored secret (never the values)."""

    def describe(self) -> str:
        """Where this keystore keeps its secrets, for humans (no secret material)."""
        return self.kind
