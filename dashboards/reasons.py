"""A confirmation that also asks why: the reason goes to the API with the action, so the
audit trail says why an operator canceled or retried, not a fixed dashboard phrase."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import panel as pn

from .ui import Confirm

DEFAULT_REASON = "from the dashboard"  # what the trail says when the operator typed nothing


class ReasonConfirm(Confirm):
    """``Confirm`` with a reason field between the text and the buttons; ``reason`` reads it."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._reason = pn.widgets.TextInput(
            placeholder="reason (recorded in the audit trail)",
            sizing_mode="stretch_width",
            css_classes=["confirm-reason"],
        )
        self.insert(1, self._reason)

    @property
    def reason(self) -> str:
        """What the operator typed (``value_input``: no Enter needed), else the default."""
        return (self._reason.value_input or self._reason.value or "").strip() or DEFAULT_REASON

    def ask(
        self, text: str, action: Callable[[], Awaitable[None]], confirm_label: str = "Confirm"
    ) -> None:
        self._reason.value = self._reason.value_input = ""
        super().ask(text, action, confirm_label)
