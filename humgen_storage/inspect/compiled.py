"""The inspector's records placed by the compiled kernel (``_kernel_inspect.c``).

``InspectPlacer.place`` does for a whole block, in one pass without the GIL, what
``PythonPlacer.place`` does: the roots' prefix test, decoding the paths under them,
each directory's row and each file's class. It keeps the rows of directory prefixes
that ``RowPlacement.resolve`` gave it, so Python only answers for new prefixes, about
as many as the rows. Paths it does not decode (not canonical, a NUL: not in a
validated block) it leaves to ``PythonPlacer``, which words the complaint.

It also adds up, in C arrays indexed by row id, what most records bring to their row
(``SummedRecords``; ``take_sums`` hands the sums over in bulk): a block then costs
Python a few arrays, not numpy's per-record sums.

It is used when the kernel is built and active, every root matches a fixed number of
components (``RowPlacement.by_prefix``) and every file class is a choice of literals
(``FileClassifier.literals``); otherwise ``PythonPlacer`` places every record, with
the same results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from humgen_storage.inspect.placing import PlacedRecords
from humgen_storage.inspect.python_path import PythonPlacer
from humgen_storage.inspect.tables import Signed, Unsigned
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import Format


@dataclass(frozen=True)
class SummedRecords:
    """What the kernel leaves to Python of a block it placed and summed: ``records``
    holds no files, only the directories that are their row's own (which name its
    gid) and every name of a multi-link inode (for the link table; each was counted as
    a file where it is); ``counted`` records are in the kernel's sums."""

    records: PlacedRecords
    counted: int


# The kernel's per-row sums: files, newest mtimes, and bytes by column in two halves
# (low, high) of 128 bits.
RowSums = tuple[Unsigned, Signed, Unsigned, Unsigned]


class CompiledPlacer:
    """``PythonPlacer``'s work on the compiled kernel, with it for what the kernel leaves."""

    def __init__(self, kernel_placer: Any, python: PythonPlacer) -> None:
        self._kernel = kernel_placer
        self._python = python

    @classmethod
    def made_for(
        cls, python: PythonPlacer, path_format: Format, reference: int
    ) -> CompiledPlacer | None:
        """The compiled placer doing ``python``'s work, or None when it cannot; it sums
        mtimes after ``reference`` (whole seconds) as ``reference``."""
        # getattr: a kernel built before the placer was written places nothing.
        made = getattr(kernel.compiled(), "InspectPlacer", None)
        literals = python.classifier.literals
        if made is None or literals is None or not python.placement.by_prefix:
            return None
        wrstat = path_format is Format.WRSTAT
        placer = made(python.placement.resolve, python.prefixes, wrstat, literals, reference)
        return cls(placer, python)

    def place_valid(self, block: bytes | memoryview) -> SummedRecords | None:
        """``place`` for a raw block, validating each line in the same pass; None when
        some line is not valid (or its path is left to Python): nothing was added, and
        the block takes the usual way."""
        placed = self._kernel.place_valid(block)
        return None if placed is None else _summed(placed)

    def place(
        self, block: bytes, columns: BlockColumns, first_line: int
    ) -> tuple[SummedRecords, PlacedRecords | None]:
        """The records the kernel placed and summed, and those whose paths it left to
        ``PythonPlacer`` (which sums nothing), placed there (None: there were none)."""
        placed = self._kernel.place(block, columns.separators)
        left = np.frombuffer(placed[3], dtype=np.intp)
        by_python = self._python.place(block, columns, first_line, only=left) if len(left) else None
        return _summed(placed), by_python

    def take_sums(self) -> RowSums:
        """The sums since the last call, by row id from 0 (they start again from nothing)."""
        files, newest, cells = self._kernel.take_sums()
        rows = len(files) // 8
        halves = np.frombuffer(cells, dtype=np.uint64).reshape(rows, -1 if rows else 1, 2)
        return (
            np.frombuffer(files, dtype=np.uint64),
            np.frombuffer(newest, dtype=np.int64),
            halves[:, :, 0],
            halves[:, :, 1],
        )


def _summed(placed: tuple[bytes, bytes, bytes, bytes, int]) -> SummedRecords:
    files, directories, links, _, counted = placed
    return SummedRecords(PlacedRecords.of_kernel(files, directories, links), counted)
