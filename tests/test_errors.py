"""The exception tree: every class has a distinct, stable code and an HTTP status."""

from __future__ import annotations

from agency.errors import AgencyError, RateLimited, all_error_classes


def test_every_error_has_a_status_and_a_unique_code() -> None:
    classes = all_error_classes()
    assert len(classes) > 20
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), "two error classes share a code"
    for cls in classes:
        assert 400 <= cls.status <= 599, cls
        assert cls.__doc__, f"{cls.__name__} has no docstring"


def test_error_shape_is_stable() -> None:
    err = RateLimited("slow down", retry_after=2.5)
    assert err.to_dict() == {
        "error": {"code": "rate_limited", "message": "slow down", "details": {"retry_after": 2.5}}
    }
    assert isinstance(err, AgencyError) and err.status == 429
