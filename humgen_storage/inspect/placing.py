"""Which row a directory's records count in, one directory at a time or by prefix.

``RowPlacement.place`` is the rule (spec section 5): the first root matching the path
gives its short path, cut to a row (``roots.directory_cut``), kept only at or below
``only_under``. The Python path asks it for each directory (``ProjectInspector``
remembers the last). The compiled kernel asks ``resolve`` instead, once for each
directory *prefix* it meets, and keeps the answers: when every root matches a fixed
number of components (``InspectorRoot.components``), the row of every directory
below a prefix is known as soon as the prefix holds the root and the components of
the cut, so a volume asks about its rows, their ancestors and the few prefixes the
roots rule out, and never about the directories below the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from humgen_storage.inspect.roots import InspectorRoot, cut_length
from humgen_storage.inspect.tables import Mask, Positions, RowTable, Signed, Unsigned

# A row id for "not reported" (outside the roots or the PATH query, or undecodable).
NOWHERE = -1
# ``resolve``' answer when the directories below a prefix need more of their
# components to be placed.
DEEPER = -2


class RowPlacement:
    """The rows of one partial (``rows``) that directories' records count in."""

    def __init__(
        self,
        roots: Sequence[InspectorRoot],
        depth: int,
        only_under: Sequence[bytes],
        rows: RowTable,
    ) -> None:
        self.roots = tuple(roots)
        self.depth = depth
        self.only_under = tuple(only_under)
        self.rows = rows

    @property
    def by_prefix(self) -> bool:
        """Whether a directory's row depends on its first few components only."""
        return all(root.components is not None for root in self.roots)

    def short_path(self, path: bytes) -> list[bytes] | None:
        """Components from the first matching root's last component; None when under no root."""
        if path[:1] != b"/":
            return None
        for root in self.roots:
            match = root.regex.match(path, 1)
            if match is not None:
                start = path.rfind(b"/", 0, match.end()) + 1
                return path[start:].split(b"/")
        return None

    def is_wanted(self, short: list[bytes]) -> bool:
        only = self.only_under
        return not only or tuple(short[: len(only)]) == only

    def place(self, directory: bytes) -> tuple[int, bool]:
        """The row id the records of ``directory`` count in (``NOWHERE`` when not
        reported), and whether it is the row's own directory (names the row's group)."""
        short = self.short_path(directory)
        if short is None or not self.is_wanted(short):
            return NOWHERE, False
        keep = cut_length(short, self.depth)
        return self.rows.row_of(b"/".join(short[:keep])), len(short) <= keep

    def resolve(self, prefix: bytes, exact: bool) -> tuple[int, bool]:
        """The compiled kernel's question about a directory prefix (bytes from '/' up
        to the end of a component): with ``exact``, ``place(prefix)``; else the row of
        every directory below it, ``NOWHERE``, or ``DEEPER`` when they differ or it
        cannot tell yet. A row is only made when a record is placed in it."""
        if exact:
            return self.place(prefix)
        return self._below(prefix[1:].split(b"/")), False

    def _below(self, components: list[bytes]) -> int:
        for root in self.roots:
            patterns = root.components
            assert patterns is not None, "resolve needs roots that match by component"
            if any(
                pattern.fullmatch(component) is None
                for pattern, component in zip(patterns, components, strict=False)
            ):
                continue  # this root matches none of them
            if len(components) < len(patterns):
                return DEEPER  # it may match some of them: the first root that does wins
            short = components[len(patterns) - 1 :]
            only = self.only_under
            if tuple(short[: len(only)]) != only[: len(short)]:
                return NOWHERE
            if len(short) < len(only):
                return DEEPER
            keep = cut_length(short, self.depth)  # at least 3 when the users rule applies
            if len(short) < keep:
                return DEEPER  # the cut is further down
            return self.rows.row_of(b"/".join(short[:keep]))
        return NOWHERE


@dataclass(frozen=True)
class PlacedRecords:
    """What a block brings: its records that count, by line (within the block), each
    with its row id and the numbers the sums need. Files with nlink 0 or 1 and
    directories placed in a row; files with nlink > 1 anywhere (``NOWHERE`` outside the
    roots), whose bytes wait in the link table. File classes: positions in the
    configured order, -1 for none."""

    file_lines: Positions
    file_rows: Positions
    file_kinds: Positions
    file_sizes: Unsigned  # 0 for nlink 0 (deleted mid-crawl: a file, but no bytes)
    file_mtimes: Signed
    directory_lines: Positions
    directory_rows: Positions
    directory_own: Mask  # the row's own directory, which names its group
    directory_mtimes: Signed
    directory_gids: Unsigned
    link_lines: Positions
    link_rows: Positions
    link_kinds: Positions
    link_sizes: Unsigned
    link_mtimes: Signed
    link_devices: Unsigned
    link_inodes: Unsigned

    @classmethod
    def of_kernel(cls, files: bytes, directories: bytes, links: bytes) -> PlacedRecords:
        """From ``InspectPlacer.place``' rows of numbers (each its 64 bits)."""
        file = np.frombuffer(files, dtype=np.intp).reshape(-1, 5)
        directory = np.frombuffer(directories, dtype=np.intp).reshape(-1, 5)
        link = np.frombuffer(links, dtype=np.intp).reshape(-1, 7)
        return cls(
            file_lines=file[:, 0],
            file_rows=file[:, 1],
            file_kinds=file[:, 2],
            file_sizes=file[:, 3].view(np.uint64),
            file_mtimes=file[:, 4].view(np.int64),
            directory_lines=directory[:, 0],
            directory_rows=directory[:, 1],
            directory_own=directory[:, 2] != 0,
            directory_mtimes=directory[:, 3].view(np.int64),
            directory_gids=directory[:, 4].view(np.uint64),
            link_lines=link[:, 0],
            link_rows=link[:, 1],
            link_kinds=link[:, 2],
            link_sizes=link[:, 3].view(np.uint64),
            link_mtimes=link[:, 4].view(np.int64),
            link_devices=link[:, 5].view(np.uint64),
            link_inodes=link[:, 6].view(np.uint64),
        )
