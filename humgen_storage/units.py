"""The numbers both tables print: TiB, human sizes and days since the newest mtime.

Written once so that the report's and the inspector's tables cannot drift apart.
Plain Python: imported by the aggregates, it costs nothing at start-up.
"""

from __future__ import annotations

TIB = 2**40
# int64's least value, below any valid mtime (the reader allows -(2**63 - 1) at the
# least): "no mtime seen yet" in a column of newest mtimes.
NO_MTIME = -(2**63)

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def days_since(reference: float, newest_mtime: int | None) -> float | None:
    """``round((reference - newest mtime) / 86400, 1)``; None when nothing was seen."""
    if newest_mtime is None:
        return None
    return round((reference - newest_mtime) / 86400, 1)


def tib(size: int) -> float:
    """Bytes in TiB, ``round(x, 3)`` (the inspector's size columns)."""
    return round(size / TIB, 3)


def human_size(size: int) -> str:
    """Bytes below 1 KiB as an integer, else ``round(x, 2)`` in the largest unit under 1024."""
    if size < 1024:
        return str(size)
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        shown = round(value, 2)
        if shown < 1024 or unit == _UNITS[-1]:
            return f"{shown} {unit}"
    raise AssertionError("unreachable")
