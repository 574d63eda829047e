"""The inspector's records placed by the compiled kernel (``_kernel_inspect.c``).

``InspectPlacer.place`` does for a whole block, in one pass without the GIL, what
``PythonPlacer.place`` does: the roots' prefix test, decoding the paths under them,
each directory's row and each file's class. It keeps the rows of directory prefixes
that ``RowPlacement.resolve`` gave it, so Python only answers for new prefixes, about
as many as the rows. Paths it does not decode (not canonical, a NUL: not in a
validated block) it leaves to ``PythonPlacer``, which words the complaint.

It is used when the kernel is built and active, every root matches a fixed number of
components (``RowPlacement.by_prefix``) and every file class is a choice of literals
(``FileClassifier.literals``); otherwise ``PythonPlacer`` places every record, with
the same results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from humgen_storage.inspect.placing import PlacedRecords
from humgen_storage.inspect.python_path import PythonPlacer
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import Format


class CompiledPlacer:
    """``PythonPlacer``'s work on the compiled kernel, with it for what the kernel leaves."""

    def __init__(self, kernel_placer: Any, python: PythonPlacer) -> None:
        self._kernel = kernel_placer
        self._python = python

    @classmethod
    def made_for(cls, python: PythonPlacer, path_format: Format) -> CompiledPlacer | None:
        """The compiled placer doing ``python``'s work, or None when it cannot."""
        # getattr: a kernel built before the placer was written places nothing.
        made = getattr(kernel.compiled(), "InspectPlacer", None)
        literals = python.classifier.literals
        if made is None or literals is None or not python.placement.by_prefix:
            return None
        placer = made(
            python.placement.resolve, python.prefixes, path_format is Format.WRSTAT, literals
        )
        return cls(placer, python)

    def place_valid(self, block: bytes | memoryview) -> PlacedRecords | None:
        """``place`` for a raw block, validating each line in the same pass; None when
        some line is not valid (or its path is left to Python): nothing was added, and
        the block takes the usual way."""
        placed = self._kernel.place_valid(block)
        return None if placed is None else PlacedRecords.of_kernel(*placed[:3])

    def place(self, block: bytes, columns: BlockColumns, first_line: int) -> PlacedRecords:
        files, directories, links, deferred = self._kernel.place(block, columns.separators)
        placed = PlacedRecords.of_kernel(files, directories, links)
        left = np.frombuffer(deferred, dtype=np.intp)
        if len(left):
            placed = placed.joined(self._python.place(block, columns, first_line, only=left))
        return placed
