"""Project-inspector aggregation (spec section 5): pure, blocks in, rows out.

``ProjectInspector`` is a partial aggregate in the sense of ``run.aggregate``: each
process folds blocks of one volume in with ``add_block``, ``merge`` combines the
partials exactly, and ``finish`` gives the rows. Python code only finds each record's
row (decoding its path); numpy does the adding up. Which records count and in which
row is ``roots``; where they are kept is ``tables``; what comes out is ``results``.

Hard links: an inode with nlink > 1 counts once per volume, in the row of its first
name in input order. "First" is over the whole volume: a first name outside every
root takes the bytes with it, so a PATH query sees the same numbers as a full run. A
process cannot know whether another one saw an earlier name of an inode, so a
hard-linked file's bytes are never added while reading: the earliest name seen of
each inode is kept with its order key (line number), a merge keeps the earlier, and
``finish`` adds the bytes to that name's row. A row's gid (its first directory
record) is kept the same way.

``add_block`` compares each root's encoded prefix for a whole block at once, so
records outside the roots never reach Python, except files with nlink > 1 (for
their order key).
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Sequence

import numpy as np

from humgen_storage.inspect.classes import FileClassifier
from humgen_storage.inspect.results import InspectorRows, UndecodablePaths, rolled_up
from humgen_storage.inspect.roots import (
    DEFAULT_DEPTH,
    compile_root,
    directory_cut,
    encoded_prefixes,
)
from humgen_storage.inspect.tables import (
    MAX_CLASSES,
    LinkTable,
    Mask,
    Positions,
    RowTable,
    Signed,
    Unsigned,
)
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.paths import PathDecodeError
from humgen_storage.mpistat.patterns import Format

_FILE, _DIRECTORY = ord("f"), ord("d")
# A row id for "not reported" (outside the roots or the PATH query, or undecodable).
_NOWHERE = -1
# Records of a block handed to Python at a time.
_BATCH = 2048


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
        self._prefixes = encoded_prefixes(self.roots, path_format)
        self._decode = path_format.decode_path
        self._base64 = path_format is Format.BASE64
        self._classifier = FileClassifier(file_classes)
        # Whole seconds: for an integer mtime, m <= floor(reference) iff m <= reference, and
        # an mtime held at floor(reference) is less than a second old: 0.0 days.
        self._reference_seconds = math.floor(reference)
        self._rows = RowTable(len(self.class_names))
        self._links = LinkTable()
        # Files of one directory are usually consecutive: remember the last parent's row.
        self._last_parent: bytes | None = None
        self._last_row = _NOWHERE

    # -- placing paths ----------------------------------------------------------------

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

    def _is_wanted(self, short: list[bytes]) -> bool:
        only = self.only_under
        return not only or tuple(short[: len(only)]) == only

    def _place(self, directory: bytes) -> int:
        """The row id a file in ``directory`` counts in; ``_NOWHERE`` when not reported."""
        short = self.short_path(directory)
        if short is None or not self._is_wanted(short):
            return _NOWHERE
        return self._rows.row_of(b"/".join(directory_cut(short, self.depth)))

    def _known(self, mtimes: Signed) -> Signed:
        """Mtimes after the reference (the input file's mtime) count as the reference
        (0 days): the crawler saw those files being written."""
        return np.minimum(mtimes, self._reference_seconds)

    def _decode_file_path(self, order: int, path_field: bytes) -> bytes | None:
        """As the hot loop of ``_add_files`` decodes (and words its failures)."""
        try:
            if self._base64:
                path = binascii.a2b_base64(path_field, strict_mode=True)
            elif b"\\" in path_field:
                path = self._decode(path_field)
            else:
                path = path_field[1:-1]
        except ValueError as exc:  # binascii.Error or PathDecodeError
            self.undecodable.add(order, f"undecodable path: {exc}")
            return None
        if b"\0" in path:
            self.undecodable.add(order, "NUL byte in path")
            return None
        return path

    # -- input ------------------------------------------------------------------------

    def add_block(self, fmt: Format, block: bytes, first_line: int) -> None:
        """Fold in a block of valid lines (``run.aggregate``' partial protocol).

        Columns are cut with numpy; Python only sees the records it must: files and
        directories whose encoded path has a root's prefix, and files with nlink > 1
        anywhere (their first name may lie outside the roots). The order key of a
        record is ``first_line`` plus its position in the block.
        """
        if not block:
            return
        columns = BlockColumns.of(fmt, block)
        separators = columns.separators
        lines = len(columns)
        starts = columns.line_starts()

        def paths(rows: Positions) -> list[bytes]:
            return [
                block[s:e]
                for s, e in zip(starts[rows].tolist(), separators[rows, 0].tolist(), strict=True)
            ]

        kinds = columns.column("type")
        is_file = kinds == _FILE
        inside = self._inside(block, starts)  # None: no prefix filter, every line
        # Files whose nlink is not written "1": 0 (no bytes), > 1 (hard-linked) or odd.
        plain = columns.field_is("nlink", b"1")
        odd = np.flatnonzero(is_file & ~plain)
        files = is_file if inside is None else is_file & inside
        linked = empty = odd[:0]
        if len(odd):
            counts = columns.unsigned("nlink", odd)
            linked = odd[counts > 1]
            empty = odd[counts == 0]
            files[linked] = False  # placed by _add_links

        # In batches: the Python objects of a batch (path fields, row ids) are all
        # that is alive at a time, a fraction of a block's when it lies under a root.
        all_rows = np.flatnonzero(files)
        if len(empty):  # nlink 0 (deleted mid-crawl): a file, but no bytes
            deleted = np.zeros(lines, dtype=bool)
            deleted[empty] = True
        for start in range(0, len(all_rows), _BATCH):
            rows = all_rows[start : start + _BATCH]
            sizes = columns.unsigned("size", rows)
            if len(empty):
                sizes[deleted[rows]] = 0
            self._add_files(rows + first_line, paths(rows), sizes, columns.times("mtime", rows))

        directories = kinds == _DIRECTORY
        all_rows = np.flatnonzero(directories if inside is None else directories & inside)
        for start in range(0, len(all_rows), _BATCH):
            rows = all_rows[start : start + _BATCH]
            self._add_directories(
                rows + first_line,
                paths(rows),
                columns.times("mtime", rows),
                columns.unsigned("gid", rows),
            )

        if len(linked):
            fields: list[bytes | None] = list(paths(linked))
            if inside is not None:
                fields = [
                    f if i else None for f, i in zip(fields, inside[linked].tolist(), strict=True)
                ]
            self._add_links(
                linked + first_line,
                columns.unsigned("dev", linked),
                columns.unsigned("inode", linked),
                fields,
                columns.unsigned("size", linked),
                columns.times("mtime", linked),
            )

    def _inside(self, block: bytes, starts: Positions) -> Mask | None:
        """Lines whose encoded path starts with a root's prefix; None when every line may."""
        if self._prefixes is None:
            return None
        inside = np.zeros(len(starts), dtype=bool)
        for prefix in self._prefixes:
            width = len(prefix)
            if len(block) < width:
                continue
            # Every width-byte window of the block, as one fixed-size bytes value each.
            windows = np.ndarray(
                (len(block) - width + 1,), dtype=f"S{width}", buffer=block, strides=(1,)
            )
            # A window cut short by the end of the block holds the last newline: no match.
            inside |= windows[np.minimum(starts, len(block) - width)] == prefix
        return inside

    # -- the hot path -----------------------------------------------------------------

    def _add_files(
        self, orders: Signed, fields: list[bytes], sizes: Unsigned, mtimes: Signed
    ) -> None:
        """Files with nlink 0 or 1 (sizes already 0 for nlink 0) under a root's prefix:
        Python finds each file's row id and class, ``_sum_files`` adds them up."""
        # Locals for speed: this loop runs once per record, up to 1e9 times a volume.
        decode = self._decode
        base64 = self._base64
        a2b_base64 = binascii.a2b_base64
        may_match = self._classifier.may_match
        class_of = self._classifier.position
        place = self._place
        undecodable = self.undecodable
        last_parent = self._last_parent
        last_row = self._last_row
        row_ids: list[int] = []
        append = row_ids.append
        classed: list[int] = []  # positions in ``fields`` of the files in a class
        classes: list[int] = []
        for index, path_field in enumerate(fields):
            # The shared decoders, inlined for the common cases (a call costs as much
            # as the decoding): base64 straight from binascii, and a quoted path
            # without escapes is the text between its quotes (the line was validated).
            try:
                if base64:
                    path = a2b_base64(path_field, strict_mode=True)
                elif b"\\" in path_field:
                    path = decode(path_field)
                else:
                    path = path_field[1:-1]
            except ValueError as exc:  # binascii.Error or PathDecodeError
                undecodable.add(int(orders[index]), f"undecodable path: {exc}")
                append(_NOWHERE)
                continue
            if b"\0" in path:
                undecodable.add(int(orders[index]), "NUL byte in path")
                append(_NOWHERE)
                continue
            parent, _, name = path.rpartition(b"/")
            if parent != last_parent:
                last_parent = parent
                last_row = place(parent)
            append(last_row)
            if last_row >= 0 and (may_match is None or may_match(name) is not None):
                kind = class_of(name)
                if kind is not None:
                    classed.append(index)
                    classes.append(kind)
        self._last_parent = last_parent
        self._last_row = last_row
        self._sum_files(np.array(row_ids, dtype=np.intp), classed, classes, sizes, mtimes)

    def _sum_files(
        self, rows: Signed, classed: list[int], classes: list[int], sizes: Unsigned, mtimes: Signed
    ) -> None:
        """numpy adds a block's files to their rows (``rows``: each file's, or < 0 for
        none; ``classes``: the class of each file at the positions ``classed``)."""
        table = self._rows
        if classed:
            at = np.array(classed, dtype=np.intp)
            table.sizes.add(rows[at], 1 + np.array(classes, dtype=np.intp), sizes[at])
        placed = rows >= 0
        if not placed.all():
            rows, sizes, mtimes = rows[placed], sizes[placed], mtimes[placed]
        self.records += len(rows)
        table.add_files(rows, self._known(mtimes))
        table.sizes.add(rows, 0, sizes)

    def _add_directories(
        self, orders: Signed, fields: list[bytes], mtimes: Signed, gids: Unsigned
    ) -> None:
        """Directories under a root's prefix: each one's own cut's row (and so its
        ancestors) exists, its mtime counts, and it names the row's group when it is
        the row's own directory."""
        table = self._rows
        rows: list[int] = []
        kept: list[int] = []
        for index, path_field in enumerate(fields):
            try:
                path = self._decode(path_field)
            except PathDecodeError as exc:
                self.undecodable.add(int(orders[index]), str(exc))
                continue
            short = self.short_path(path)
            if short is None or not self._is_wanted(short):
                continue
            cut = directory_cut(short, self.depth)
            row = table.row_of(b"/".join(cut))
            rows.append(row)
            kept.append(index)
            if len(short) == len(cut):
                table.name_group(row, int(orders[index]), int(gids[index]))
        self.records += len(rows)
        table.add_mtimes(np.array(rows, dtype=np.intp), self._known(mtimes[kept]))

    def _add_links(
        self,
        orders: Signed,
        devices: Unsigned,
        inodes: Unsigned,
        fields: list[bytes | None],
        sizes: Unsigned,
        mtimes: Signed,
    ) -> None:
        """Files with nlink > 1, anywhere in the volume (``None`` fields: outside the
        roots' prefixes). Every name counts as a file where it is; the bytes wait in
        the link table with the name (``finish`` places those of each inode's first)."""
        if not fields:
            return
        row_ids = [_NOWHERE] * len(fields)
        kinds = [-1] * len(fields)
        for index, path_field in enumerate(fields):
            if path_field is None:
                continue
            path = self._decode_file_path(int(orders[index]), path_field)
            if path is None:
                continue
            parent, _, name = path.rpartition(b"/")
            row = self._place(parent)
            if row >= 0:
                row_ids[index] = row
                kind = self._classifier.position(name)
                if kind is not None:
                    kinds[index] = kind
        rows = np.array(row_ids, dtype=np.intp)
        placed = rows >= 0
        if placed.any():
            self.records += int(placed.sum())
            self._rows.add_files(rows[placed], self._known(mtimes[placed]))
        self._links.add(
            {
                "dev": devices,
                "inode": inodes,
                "order": orders,
                "size": sizes,
                "row": np.where(sizes > 0, rows, _NOWHERE),
                "kind": np.array(kinds, dtype=np.int8),
            }
        )

    # -- partials ---------------------------------------------------------------------

    def merge(self, other: ProjectInspector) -> None:
        """Fold in another partial aggregate of the same volume (and settings), exactly."""
        mapping = self._rows.merge(other._rows)
        self._links.merge(other._links, mapping)
        self.undecodable.merge(other.undecodable)
        self.records += other.records

    # -- the end ----------------------------------------------------------------------

    def finish(self) -> InspectorRows:
        """Every row with its ancestors' sums, sorted by Project then Directory.

        The partial is left as it was (it can still take blocks and merges).
        """
        return rolled_up(self._rows, self._links.compact(), self.class_names, self.reference)
