"""Secrets kept out of what users submit: task specs and labels, masked before storage.

Every string of a spec and its labels goes through the control plane's ``SecretMasker``
(keystore values and credential shapes become ``***``, the sender is told through the
``Agency-Masked`` header). A spec's ``env`` values are refused instead of masked: the task
needs them as given, so a masked one would break it without a word; a secret belongs in the
keystore and the env holds its reference, ``${secret:NAME}``, which the worker resolves when
the process starts (and which is no secret, so it passes).
"""

from __future__ import annotations

from typing import Any

from agency.models import TaskSubmit
from agency.security.masking import SecretMasker


def masked_spec(masker: SecretMasker, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its strings masked; ``ValidationFailed`` for a secret in ``env``."""
    env = spec.get("env")
    if isinstance(env, dict):
        masker.refuse(env, "spec.env")
    return masker.tree(spec)


def masked_submit(masker: SecretMasker, req: TaskSubmit) -> TaskSubmit:
    """``req`` with its spec and labels masked (the same object when nothing was)."""
    spec = masked_spec(masker, req.spec)
    labels = masker.tree(req.labels)
    if spec == req.spec and labels == req.labels:
        return req
    return req.model_copy(update={"spec": spec, "labels": labels})
