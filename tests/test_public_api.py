"""The package's public names: sorted, and each one importable."""

from __future__ import annotations

import agency


def test_all_is_sorted_and_importable() -> None:
    assert agency.__all__ == sorted(agency.__all__)
    for name in agency.__all__:
        assert getattr(agency, name) is not None
