"""Sorting records into runs of one key, and exact sums over those runs, with numpy.

Shared by the report's aggregate and its per-user table: a block's records are
sorted once by (gid, uid) and every figure is a ``reduceat`` over the runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_LOW_WORD, _WORD_BITS = np.uint64(0xFFFF_FFFF), np.uint64(32)


def group_starts(
    keys: npt.NDArray[np.integer[Any]],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(order sorting ``keys``, start of each run of equal keys in that order)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return order, np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])


def pair_starts(
    gid: npt.NDArray[np.uint64], uid: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(order sorting the records by (gid, uid), start of each pair's run in that order).

    Real ids fit in 32 bits: one key ``gid << 32 | uid`` is sorted as the gid alone was,
    so the user costs no second sort. Larger ids (the format allows 64 bits) take a
    lexsort of both columns.
    """
    if not len(gid) or max(int(gid.max()), int(uid.max())) < 2**32:
        return group_starts((gid << _WORD_BITS) | uid)
    order = np.lexsort((uid, gid))
    gid_sorted, uid_sorted = gid[order], uid[order]
    changes = (gid_sorted[1:] != gid_sorted[:-1]) | (uid_sorted[1:] != uid_sorted[:-1])
    return order, np.flatnonzero(np.r_[True, changes])


def exact_sums(values: npt.NDArray[np.uint64], starts: npt.NDArray[np.intp]) -> list[int]:
    """The sum of each run of ``values`` (runs begin at ``starts``) as exact Python ints."""
    return column_sums(values, starts).tolist()  # type: ignore[no-any-return]


def column_sums(values: npt.NDArray[Any], starts: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
    """The sum of each run of ``values``: uint64 when that is exact, else Python ints.

    Each value is below 2**64, but a run's sum may not be: when the largest value times
    the count could reach 2**64, the low and high 32 bits of every value are summed
    apart (each sum below 2**64 for fewer than 2**32 values) and joined in Python, one
    int per run, never per record. The usual block never needs it. A column of Python
    ints (``object``) is summed as it is.
    """
    if not len(values):
        return np.zeros(0, dtype=np.uint64)
    if values.dtype == object:
        return np.add.reduceat(values, starts)  # type: ignore[no-any-return]
    if int(values.max()) * len(values) < 2**64:  # Python ints: no overflow in the test
        return np.add.reduceat(values, starts)  # type: ignore[no-any-return]
    assert len(values) < 2**32, len(values)
    low = np.add.reduceat(values & _LOW_WORD, starts).tolist()
    high = np.add.reduceat(values >> _WORD_BITS, starts).tolist()
    return exact_column([(h << 32) + lo for h, lo in zip(high, low, strict=True)])


def exact_column(values: list[int]) -> npt.NDArray[Any]:
    """uint64 when every value fits, else Python ints (exact)."""
    if not values or max(values) < 2**64:
        return np.array(values, dtype=np.uint64)
    return np.array(values, dtype=object)
