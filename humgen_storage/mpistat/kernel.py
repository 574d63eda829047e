"""Which implementation validates and cuts blocks: the compiled kernel or the numpy path.

The compiled kernel (``humgen_storage/_kernel.c``, built by ``pip install`` when a C
compiler and the Python headers are there) checks each line in one pass over its bytes,
cuts the number columns, and selects (and rewrites) the split's lines by group
(``_kernel_split.c``), without holding the GIL. The numpy
path (``patterns.py``' regular expressions, ``columns.py``, ``paths.py``) is the
fallback, and gives the same results: the tests run both on the same inputs.
``HUMGEN_STORAGE_KERNEL=numpy`` forces the fallback (for tests and comparisons).

Imports nothing heavy: ``--version`` says which path is active.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from types import ModuleType

KERNEL_ENV = "HUMGEN_STORAGE_KERNEL"
COMPILED, NUMPY = "compiled", "numpy"
NOT_BUILT = "compiled kernel not built; using the numpy path"

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _load() -> ModuleType | None:
    if os.environ.get(KERNEL_ENV, "").strip().lower() == NUMPY:
        return None
    try:
        return importlib.import_module("humgen_storage._kernel")
    except ImportError:
        return None


@functools.lru_cache(maxsize=1)
def _warn_not_built() -> None:
    log.warning(NOT_BUILT)


def compiled() -> ModuleType | None:
    """The compiled kernel, or None for the numpy path (with a warning, once, when the
    kernel was not built rather than turned off)."""
    kernel = _load()
    if kernel is None and active_reason() == "not built":
        _warn_not_built()
    return kernel


def active() -> str:
    """``compiled`` or ``numpy``: the path blocks take in this process."""
    return NUMPY if _load() is None else COMPILED


def active_reason() -> str:
    """Why the active path is active: ``built``, ``HUMGEN_STORAGE_KERNEL=numpy`` or
    ``not built``."""
    if _load() is not None:
        return "built"
    if os.environ.get(KERNEL_ENV, "").strip().lower() == NUMPY:
        return f"{KERNEL_ENV}={NUMPY}"
    return "not built"


# The separators of the last clean block validated in this process, cut in the same
# pass: the report and inspect cut columns from the block ``clean_block`` just returned,
# and would otherwise walk its bytes again. One block at most, taken by its first use.
_kept: tuple[bytes, bytearray] | None = None


def keep_separators(block: bytes, separators: bytearray) -> None:
    global _kept
    _kept = (block, separators)


def take_separators(block: bytes) -> bytearray | None:
    """The separators kept for this very block object (``is``, not ``==``), or None."""
    global _kept
    kept, _kept = _kept, None
    return kept[1] if kept is not None and kept[0] is block else None


def reset() -> None:
    """Choose again (after ``HUMGEN_STORAGE_KERNEL`` changed: the tests run both paths)."""
    _load.cache_clear()
