"""The numbers both tables print (units.py), against hand-computed values."""

from __future__ import annotations

import pytest

from humgen_storage.units import NO_MTIME, TIB, days_since, human_size, tib


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0"),
        (1023, "1023"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024**2 - 1, "1.0 MiB"),  # 1023.999 KiB rounds to 1024.0: shown in the next unit
        (5 * 2**38, "1.25 TiB"),
        (3 * 2**50, "3.0 PiB"),
        (2**62, "4096.0 PiB"),
    ],
)
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_tib_rounds_to_three_places() -> None:
    assert TIB == 1_099_511_627_776
    assert tib(5 * 2**38) == 1.25
    assert tib(2**30) == 0.001  # 1/1024 = 0.0009765625
    assert tib(0) == 0.0


def test_days_since() -> None:
    assert days_since(1_700_000_000, None) is None
    assert days_since(1_700_000_000, 1_700_000_000 - 3 * 86400) == 3.0
    assert days_since(1_700_000_000.75, 1_700_000_000 - 4320) == 0.1  # 0.05 days + a bit
    assert NO_MTIME == -(2**63)
