"""Governance: the placeholder scanner, result gates and their verdicts, waiver rules.

Depends only on ``agency.models``, ``agency.errors`` and ``agency.settings``.
"""

from agency.governance.findings import Category, Finding, ScanReport, Severity
from agency.governance.gates import (
    APPROVED,
    CHANGES_REQUESTED,
    WAIVED,
    Verdict,
    evaluate_gates,
    evaluate_gates_on_contents,
)
from agency.governance.scanner import scan_paths, scan_source
from agency.governance.waivers import decide_waiver, request_waiver, require_second_person

__all__ = [
    "APPROVED",
    "CHANGES_REQUESTED",
    "WAIVED",
    "Category",
    "Finding",
    "ScanReport",
    "Severity",
    "Verdict",
    "decide_waiver",
    "evaluate_gates",
    "evaluate_gates_on_contents",
    "request_waiver",
    "require_second_person",
    "scan_paths",
    "scan_source",
]
