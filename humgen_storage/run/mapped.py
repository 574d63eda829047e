"""Long-lived, growing numpy arrays kept out of the C heap.

An aggregate's growing tables (the inspector's rows, both jobs' hard-link tables) live
for a whole volume while every block allocates and frees megabytes of temporaries.
From the C heap, the tables end up between those temporaries, and the heap keeps the
space the temporaries leave resident, so a process's memory grew with its input
(measured: three times the inspector's link table; the single-worker report's peak
grew 1.22x from 5M to 20M lines, 1.07x once its link table was mapped). A large
table gets a memory mapping of its own instead: its spare room costs nothing until
written, and all of it goes back to the system when freed.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np
import numpy.typing as npt

# Smaller arrays come from the heap: a mapping per array would cost more than it saves.
MAPPED_AT_LEAST = 1 << 16


def mapped_zeros(shape: int | tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """Zeros of ``shape``; a large array gets a memory mapping for it alone."""
    dtype = np.dtype(dtype)
    dims = (shape,) if isinstance(shape, int) else shape
    count = int(np.prod(dims, dtype=np.int64))
    size = count * dtype.itemsize
    if size < MAPPED_AT_LEAST:
        return np.zeros(dims, dtype=dtype)
    # Private: a forked process (mpistat.parallel) gets its own copy, as of the heap.
    return np.frombuffer(mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE), dtype=dtype).reshape(dims)
