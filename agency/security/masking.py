"""Masking secrets in text users send before it is stored or echoed.

Two kinds are masked: values the keystore holds (through a ``Redactor``), and strings shaped
like common credentials even when nobody registered them: agency's own tokens (``agy_``),
OpenAI-style ``sk-`` keys, AWS access key ids (``AKIA``), ``Bearer`` headers and PEM
private-key blocks. ``mask`` says what it masked, so the sender can be told.

The control plane's services mask everything users send that they store: chat messages,
task specs and labels (a task's ``env`` values are refused instead: the task needs them, so
a masked value would break it silently; ``${secret:NAME}`` references are the way), saved
queries, schedules, and the reasons given for actions. What a request masked is collected in
``MASKED`` (a per-request list the API sets), and the API answers it in the
``Agency-Masked`` response header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agency.errors import ValidationFailed
from agency.security.base import Keystore
from agency.security.redaction import MASK, Redactor

CREDENTIAL_SHAPES: dict[str, re.Pattern[str]] = {
    "private key": re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        re.DOTALL,
    ),
    "bearer header": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    "agency token": re.compile(r"\bagy_[A-Za-z0-9_-]{16,}"),
    "API key (sk-)": re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
}


T = TypeVar("T")
#: what the current request masked; the API sets a fresh list per request, services add to it
MASKED: ContextVar[list[str] | None] = ContextVar("agency_masked", default=None)


def tell(found: list[str]) -> None:
    """Note for the sender what was masked (nothing happens outside a request)."""
    noted = MASKED.get()
    if noted is not None:
        noted.extend(k for k in found if k not in noted)


@dataclass
class SecretMasker:
    """Keystore values and credential-shaped strings, masked in one pass each."""

    redactor: Redactor = field(default_factory=Redactor)

    def learn(self, keystore: Keystore) -> int:
        """Add every value ``keystore`` holds; returns how many were read."""
        names = keystore.list()
        self.redactor.add(*(keystore.get_secret(n) for n in names))
        return len(names)

    def mask(self, text: str) -> tuple[str, list[str]]:
        """``text`` with secrets replaced by ``***``, and the kinds found (empty: none)."""
        found: list[str] = []
        masked = self.redactor.redact(text)
        if masked != text:
            found.append("keystore secret")
        for kind, pattern in CREDENTIAL_SHAPES.items():
            masked, n = pattern.subn(MASK, masked)
            if n:
                found.append(kind)
        return masked, found

    def text(self, text: str) -> str:
        """``text`` masked, the kinds found noted for the sender."""
        masked, found = self.mask(text)
        tell(found)
        return masked

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def tree(self, value: T) -> T:
        """Every string in a JSON-like value (dict values, list items) masked; keys kept."""
        out: Any
        if isinstance(value, str):
            out = self.text(value)
        elif isinstance(value, dict):
            out = {k: self.tree(v) for k, v in value.items()}
        elif isinstance(value, list):
            out = [self.tree(v) for v in value]
        else:
            out = value
        return out  # type: ignore[no-any-return]

    def refuse(self, values: Mapping[str, Any], field_name: str) -> None:
        """``ValidationFailed`` naming the first entry of ``values`` that holds a secret."""
        for key, value in values.items():
            if not isinstance(value, str):
                continue
            _, found = self.mask(value)
            if found:
                raise ValidationFailed(
                    f"{field_name}.{key} holds a {found[0]}: store it with `agency secret set "
                    f"NAME` and reference it as ${{secret:NAME}} (a value in a spec is stored "
                    "and shown to every reader)",
                    details={"field": f"{field_name}.{key}", "masked": found},
                )
