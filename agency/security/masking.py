"""Masking secrets in text users send (chat) before it is stored or echoed.

Two kinds are masked: values the keystore holds (through a ``Redactor``), and strings shaped
like common credentials even when nobody registered them: agency's own tokens (``agy_``),
OpenAI-style ``sk-`` keys, AWS access key ids (``AKIA``), ``Bearer`` headers and PEM
private-key blocks. ``mask`` says what it masked, so the sender can be told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
