"""What one volume's inspection yields: its rows, summed up its tree and sorted.

``ProjectInspector.finish`` hands its tables to ``rolled_up``, which adds each
multi-link inode's bytes to the row of its first name, sums every row into its
ancestors, and sorts the rows by Project then Directory. The result is columns
(``InspectorRows``), an ``InspectorRow`` made only when one is asked for.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from humgen_storage.inspect.output_tree import Tree, output_tree
from humgen_storage.inspect.tables import NO_ORDER, ByteCells, LinkColumns, Positions, RowTable
from humgen_storage.units import NO_MTIME, days_since


@dataclass(frozen=True)
class InspectorRow:
    """One row of the inspector's table for one volume (sizes in bytes)."""

    short_path: tuple[bytes, ...]
    files: int
    total_bytes: int
    class_bytes: Mapping[str, int]
    last_modified_days: float | None
    # gid of the first directory record whose short path is this row's own directory
    gid: int | None
    project_total_bytes: int

    @property
    def project(self) -> bytes:
        return b"/".join(self.short_path[:2])

    @property
    def directory(self) -> bytes:
        """The components below the project; empty for project and root rows."""
        return b"/".join(self.short_path[2:])

    def is_at_or_below(self, prefix: Sequence[bytes]) -> bool:
        return self.short_path[: len(prefix)] == tuple(prefix)


class InspectorRows(Sequence[InspectorRow]):
    """One volume's rows, sorted by Project then Directory (what ``finish`` returns).

    Kept as columns: numpy arrays, and each row's short path joined by ``/`` (which
    no component contains). An ``InspectorRow`` is made when one is asked for, so a
    volume's table costs about 140 bytes a row instead of 700 for the objects. Equal
    to any sequence of the same rows.
    """

    def __init__(  # noqa: PLR0913 - one argument per column: the rows are kept as columns
        self,
        class_names: tuple[str, ...],
        reference: float,
        paths: list[bytes],
        files: npt.NDArray[np.int64],
        newest: npt.NDArray[np.int64],
        sizes: npt.NDArray[Any],
        gids: npt.NDArray[np.uint64],
        has_gid: npt.NDArray[np.bool_],
        project: npt.NDArray[np.intp],
    ) -> None:
        self.class_names = class_names
        self.reference = reference
        self.paths = paths
        self.files = files
        self.newest = newest  # NO_MTIME: none
        # Column 0 all bytes, then one per class: int64, or Python ints (dtype object)
        # when some sum does not fit.
        self.sizes = sizes
        self.gids = gids
        self.has_gid = has_gid
        self.project = project  # the position of each row's project row (or its own)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> InspectorRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[InspectorRow]: ...

    def __getitem__(self, index: int | slice) -> InspectorRow | list[InspectorRow]:
        if isinstance(index, slice):
            return [self._row(at) for at in range(len(self))[index]]
        return self._row(range(len(self))[index])

    def __iter__(self) -> Iterator[InspectorRow]:
        return map(self._row, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return f"InspectorRows({list(self)!r})"

    def _row(self, at: int) -> InspectorRow:
        sizes = self.sizes[at].tolist()
        when = int(self.newest[at])
        return InspectorRow(
            short_path=tuple(self.paths[at].split(b"/")),
            files=int(self.files[at]),
            total_bytes=sizes[0],
            class_bytes=dict(zip(self.class_names, sizes[1:], strict=True)),
            last_modified_days=days_since(self.reference, None if when == NO_MTIME else when),
            gid=int(self.gids[at]) if self.has_gid[at] else None,
            project_total_bytes=int(self.sizes[self.project[at], 0]),
        )


@dataclass
class UndecodablePaths:
    """Path fields under a root's prefix that could not be decoded (skipped, counted).

    ``examples`` are the (line, reason) of the first few in input order, with the
    record's line number in the file (``run.aggregate.valid_runs`` numbers the
    lines after a malformed one).
    """

    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)
    keep: int = 5

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        examples = self.examples
        if len(examples) < self.keep or line < examples[-1][0]:
            bisect.insort(examples, (line, reason))
            del examples[self.keep :]

    def merge(self, other: UndecodablePaths) -> None:
        self.count += other.count
        self.examples = sorted(self.examples + other.examples)[: self.keep]


def rolled_up(
    table: RowTable, links: LinkColumns, class_names: tuple[str, ...], reference: float
) -> InspectorRows:
    """Every row of ``table`` with its ancestors' sums, sorted by Project then Directory;
    ``links`` are the multi-link inodes' first names (``LinkTable.compact``)."""
    count = len(table)
    paths, parent_of, output_of, project = _output_tree(table)
    total = len(paths)
    files = np.zeros(total, dtype=np.int64)
    files[output_of] = table.files[:count]
    newest = np.full(total, NO_MTIME, dtype=np.int64)
    newest[output_of] = table.newest[:count]
    sizes = _output_sizes(table.sizes, count, total, output_of, links)
    exact = _sum_up(paths, parent_of, files, newest, sizes)
    named = np.flatnonzero(table.gid_order[:count] < NO_ORDER)
    gids = np.zeros(total, dtype=np.uint64)
    gids[output_of[named]] = table.gid[named]
    has_gid = np.zeros(total, dtype=bool)
    has_gid[output_of[named]] = True

    # In the table's order, one column at a time (each old one goes as it is replaced).
    order = _table_order(paths, project)
    position = np.empty(total, dtype=np.intp)
    position[order] = np.arange(total)
    project = position[project[order]]
    del position
    paths = [paths[at] for at in order.tolist()]
    files = files[order]
    newest = newest[order]
    exact = exact[order]
    del sizes
    gids = gids[order]
    has_gid = has_gid[order]
    return InspectorRows(
        class_names, reference, paths, files, newest, exact, gids, has_gid, project
    )


def _output_tree(table: RowTable) -> Tree:
    """The output rows: every row's cut and the cuts' ancestors, as short paths joined
    by "/" (which no component contains). Returns (their paths, each one's parent (-1:
    none), each table row's output row, each one's project's output row). Found with
    numpy (``output_tree``), or a cut at a time when some component is very long."""
    tree = output_tree(table.keys)
    return _output_tree_by_key(table) if tree is None else tree


def _output_tree_by_key(table: RowTable) -> Tree:
    """``_output_tree`` a cut at a time, the outputs numbered as first met."""
    count = len(table)
    outputs: dict[bytes, int] = {}
    parents = array.array("q")  # each one's parent, 8 bytes rather than a Python int
    output_of = np.empty(count, dtype=np.intp)
    for row, key in enumerate(table.keys):
        parent = -1
        slash = key.find(b"/")
        while True:
            prefix = key if slash < 0 else key[:slash]
            found = outputs.get(prefix)
            if found is None:
                found = outputs[prefix] = len(parents)
                parents.append(parent)
            parent = found
            if slash < 0:
                break
            slash = key.find(b"/", slash + 1)
        output_of[row] = parent
    paths = list(outputs)
    total = len(paths)
    project = np.fromiter(
        (outputs[_project_and_directory(path)[0]] for path in paths),
        dtype=np.intp,
        count=total,
    )
    del outputs
    parent_of = np.frombuffer(parents, dtype=np.int64).astype(np.intp)
    del parents
    return paths, parent_of, output_of, project


def _output_sizes(
    own: ByteCells, count: int, total: int, output_of: Positions, links: LinkColumns
) -> ByteCells:
    """The table's bytes in the output rows, and each hard-linked inode's bytes, once,
    in the row of its first name."""
    sizes = ByteCells(own.cells.shape[1])
    sizes.cells = np.zeros((total, own.cells.shape[1]), dtype=np.int64)
    sizes.cells[output_of] = own.cells[:count]
    sizes.spill = {(int(output_of[row]), column): v for (row, column), v in own.spill.items()}
    sizes.bound = own.bound
    placed = links["row"] >= 0
    if placed.any():
        rows = output_of[links["row"][placed]]
        linked_sizes = links["size"][placed]
        sizes.add(rows, 0, linked_sizes)
        kinds = links["kind"][placed].astype(np.intp)
        classed = kinds >= 0
        sizes.add(rows[classed], 1 + kinds[classed], linked_sizes[classed])
    return sizes


def _sum_up(
    paths: list[bytes],
    parent_of: Positions,
    files: npt.NDArray[np.int64],
    newest: npt.NDArray[np.int64],
    sizes: ByteCells,
) -> npt.NDArray[Any]:
    """Sums ``files``, ``newest`` and the cells up the tree in place, deepest level
    first; returns the byte sums, as Python ints (dtype object) when some do not fit.
    Exact: sizes.bound, below 2**63, is at least any sum of one column's cells."""
    total = len(paths)
    cells = sizes.cells
    depth = np.fromiter((path.count(b"/") for path in paths), dtype=np.intp, count=total)
    for level in range(int(depth.max(initial=0)), 0, -1):
        deepest = np.flatnonzero(depth == level)
        above = parent_of[deepest]
        np.add.at(files, above, files[deepest])
        np.maximum.at(newest, above, newest[deepest])
        np.add.at(cells, above, cells[deepest])
    exact: npt.NDArray[Any] = cells
    if sizes.spill:  # bytes beyond int64 (see ByteCells): Python ints from here on
        exact = cells.astype(object)
        for (at, column), value in sizes.spill.items():
            while at >= 0:
                exact[at, column] += value
                at = int(parent_of[at])
    return exact


def _project_and_directory(path: bytes) -> tuple[bytes, bytes]:
    """A short path's Project (its first two components, or its one) and Directory."""
    first = path.find(b"/")
    second = path.find(b"/", first + 1) if first >= 0 else -1
    return (path, b"") if second < 0 else (path[:second], path[second + 1 :])


def _table_order(paths: list[bytes], project: Positions) -> Positions:
    """The positions of short paths in the table's order: Project, then Directory
    (as bytes, a project's own row first). ``project[i]`` is the
    position of path ``i``'s project (its own when it is one, or a root).

    Within a project, a path is the project, ``/`` and the Directory, so paths order
    as their Directories do: the paths are sorted as they are, then grouped by their
    projects' order. No new object a row: object arrays hold pointers to the paths.
    """
    by_path = np.fromiter(paths, dtype=object, count=len(paths)).argsort(kind="stable")
    rank = np.empty(len(paths), dtype=np.intp)
    rank[by_path] = np.arange(len(paths))
    return np.lexsort((rank, rank[project]))
