"""Project-inspector aggregation (spec section 5): pure, blocks in, rows out.

``ProjectInspector`` is a partial aggregate in the sense of ``run.aggregate``: each
process folds blocks of one volume in with ``add_block``, ``merge`` combines the
partials exactly, and ``finish`` gives the rows. A placer finds each record's row
(``compiled.CompiledPlacer`` on the compiled kernel, else ``python_path.PythonPlacer``,
with the same results); numpy does the adding up, per row, of what the compiled
placer does not add up itself (its sums join the rows when a partial is merged,
finished or sent). Which records count and in which row is ``roots`` and
``placing``; where they are kept is ``tables``; what comes out is ``results``.

Hard links: an inode with nlink > 1 counts once per volume, in the row of its first
name in input order. "First" is over the whole volume: a first name outside every
root takes the bytes with it, so a PATH query sees the same numbers as a full run. A
process cannot know whether another one saw an earlier name of an inode, so a
hard-linked file's bytes are never added while reading: the earliest name seen of
each inode is kept with its order key (line number), a merge keeps the earlier, and
``finish`` adds the bytes to that name's row. A row's gid (its first directory
record) is kept the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from humgen_storage.inspect.classes import FileClassifier
from humgen_storage.inspect.compiled import CompiledPlacer, SummedRecords
from humgen_storage.inspect.placing import NOWHERE, PlacedRecords, RowPlacement
from humgen_storage.inspect.python_path import PythonPlacer
from humgen_storage.inspect.results import InspectorRows, UndecodablePaths, rolled_up
from humgen_storage.inspect.roots import DEFAULT_DEPTH, compile_root, encoded_prefixes
from humgen_storage.inspect.tables import MAX_CLASSES, LinkTable, RowTable, Signed
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import Format, Malformed


class ProjectInspector:
    """Aggregates one volume's records into inspector rows.

    ``reference`` is the input file's mtime: newer mtimes count as the reference for
    Last Modified. ``only_under`` (short-path components) keeps only records at or below
    it, for a PATH query that needs a single project.

    Whatever depends on input order (a hard-linked file's first name, a row's first
    directory record) is kept with its order key, and the earliest wins on a merge.
    """

    def __init__(
        self,
        roots: Sequence[str],
        file_classes: Sequence[tuple[str, str]],
        reference: float,
        path_format: Format,
        depth: int = DEFAULT_DEPTH,
        only_under: Sequence[bytes] = (),
    ) -> None:
        if depth < 0:
            raise ValueError(f"depth must be 0 or more, got {depth}")
        if len(file_classes) > MAX_CLASSES:
            raise ValueError(f"at most {MAX_CLASSES} file classes, got {len(file_classes)}")
        self.roots = tuple(compile_root(pattern) for pattern in roots)
        self.class_names = tuple(name for name, _ in file_classes)
        self.reference = reference
        self.depth = depth
        self.only_under = tuple(only_under)
        self.undecodable = UndecodablePaths()
        self.records = 0  # records of type f or d under a root
        self._format = path_format
        # Whole seconds: for an integer mtime, m <= floor(reference) iff m <= reference, and
        # an mtime held at floor(reference) is less than a second old: 0.0 days.
        self._reference_seconds = math.floor(reference)
        self._rows = RowTable(len(self.class_names))
        self._links = LinkTable()
        self._python = PythonPlacer(
            RowPlacement(self.roots, depth, self.only_under, self._rows),
            FileClassifier(file_classes),
            path_format,
            encoded_prefixes(self.roots, path_format),
            self.undecodable,
        )
        # Made with the first block (the kernel is chosen then); not sent between
        # processes, it keeps nothing a merge would need.
        self._compiled: CompiledPlacer | None = None
        self._compiled_chosen = False

    def __getstate__(self) -> dict[str, Any]:
        self._take_sums()  # the compiled placer is not sent: its sums go in the rows
        state = dict(self.__dict__)
        state["_compiled"] = None
        state["_compiled_chosen"] = False
        return state

    # -- input ------------------------------------------------------------------------

    def add_block(self, fmt: Format, block: bytes, first_line: int) -> None:
        """Fold in a block of valid lines (``run.aggregate``' partial protocol).

        The placer finds the records that count and their rows; numpy adds them up.
        The order key of a record is ``first_line`` plus its position in the block.
        """
        if not block:
            return
        columns = BlockColumns.of(fmt, block)
        placer = self._compiled_placer()
        if placer is None:
            self._add(self._python.place(block, columns, first_line), first_line)
            return
        summed, by_python = placer.place(block, columns, first_line)
        self._add_summed(summed, first_line)
        if by_python is not None:
            self._add(by_python, first_line)

    def add_raw_block(
        self, fmt: Format, block: bytes | memoryview, first_line: int
    ) -> Malformed | None:
        """Fold in a raw block when every line of it is valid, each checked as it is
        placed (``run.aggregate``: the block is then not validated apart), and say so
        with no malformed lines; None, with nothing added, when some line is not, or
        without the compiled kernel."""
        placer = self._compiled_placer()
        placed = None if placer is None else placer.place_valid(block)
        if placed is None:
            return None
        self._add_summed(placed, first_line)
        return []

    def _compiled_placer(self) -> CompiledPlacer | None:
        if not self._compiled_chosen:
            self._compiled = CompiledPlacer.made_for(
                self._python, self._format, self._reference_seconds
            )
            self._compiled_chosen = True
        return self._compiled

    def _take_sums(self) -> None:
        """The compiled placer's sums into the rows (its row ids are theirs)."""
        if self._compiled is not None:
            self._rows.add_sums(*self._compiled.take_sums())

    def _add_summed(self, summed: SummedRecords, first_line: int) -> None:
        """What the compiled placer left of a block it summed: the rows' own directories
        (their gids) and the multi-link names (the link table)."""
        self.records += summed.counted
        self._name_groups(summed.records, first_line)
        self._table_links(summed.records, first_line)

    def _add(self, placed: PlacedRecords, first_line: int) -> None:
        self._add_files(placed)
        self._add_directories(placed, first_line)
        self._add_links(placed, first_line)

    def _known(self, mtimes: Signed) -> Signed:
        """Mtimes after the reference (the input file's mtime) count as the reference
        (0 days): the crawler saw those files being written."""
        return np.minimum(mtimes, self._reference_seconds)

    def _add_files(self, placed: PlacedRecords) -> None:
        """Files with nlink 0 or 1 in their rows: a file, its mtime, its bytes in the
        row's total and its class's."""
        rows, kinds, sizes = placed.file_rows, placed.file_kinds, placed.file_sizes
        if not len(rows):
            return
        table = self._rows
        classed = kinds >= 0
        if classed.any():
            table.sizes.add(rows[classed], 1 + kinds[classed], sizes[classed])
        self.records += len(rows)
        table.add_files(rows, self._known(placed.file_mtimes))
        table.sizes.add(rows, 0, sizes)

    def _add_directories(self, placed: PlacedRecords, first_line: int) -> None:
        """Directories in their rows (and so their ancestors'): the mtime counts, and
        a row's own directory names its group."""
        rows = placed.directory_rows
        if not len(rows):
            return
        self.records += len(rows)
        self._rows.add_mtimes(rows, self._known(placed.directory_mtimes))
        self._name_groups(placed, first_line)

    def _name_groups(self, placed: PlacedRecords, first_line: int) -> None:
        rows, own = placed.directory_rows, placed.directory_own
        if own.any():
            orders = placed.directory_lines[own] + first_line
            self._rows.name_groups(rows[own], orders, placed.directory_gids[own])

    def _add_links(self, placed: PlacedRecords, first_line: int) -> None:
        """Files with nlink > 1, anywhere in the volume. Every name counts as a file
        where it is; the bytes wait in the link table with the name (``finish`` places
        those of each inode's first)."""
        rows = placed.link_rows
        here = rows >= 0
        if here.any():
            self.records += int(here.sum())
            self._rows.add_files(rows[here], self._known(placed.link_mtimes[here]))
        self._table_links(placed, first_line)

    def _table_links(self, placed: PlacedRecords, first_line: int) -> None:
        """Multi-link names into the link table, where the earliest of each inode wins."""
        rows, sizes = placed.link_rows, placed.link_sizes
        if not len(rows):
            return
        self._links.add(
            {
                "dev": placed.link_devices,
                "inode": placed.link_inodes,
                "order": placed.link_lines + first_line,
                "size": sizes,
                "row": np.where(sizes > 0, rows, NOWHERE),
                "kind": placed.link_kinds.astype(np.int8),
            }
        )

    # -- partials ---------------------------------------------------------------------

    def merge(self, other: ProjectInspector) -> None:
        """Fold in another partial aggregate of the same volume (and settings), exactly."""
        self._take_sums()
        other._take_sums()
        mapping = self._rows.merge(other._rows)
        self._links.merge(other._links, mapping)
        self.undecodable.merge(other.undecodable)
        self.records += other.records

    # -- the end ----------------------------------------------------------------------

    def finish(self) -> InspectorRows:
        """Every row with its ancestors' sums, sorted by Project then Directory.

        The partial is left as it was (it can still take blocks and merges).
        """
        self._take_sums()
        return rolled_up(self._rows, self._links.compact(), self.class_names, self.reference)
