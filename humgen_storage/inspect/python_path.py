"""The inspector's records placed in Python: the path when the compiled kernel is not
built or turned off, and for the records it leaves to Python (paths it does not decode).

``PythonPlacer.place`` finds, for a block's records, what the compiled kernel's
``InspectPlacer.place`` finds (``PlacedRecords``): numpy compares each root's encoded
prefix over the whole block, so records outside the roots never reach Python, except
files with nlink > 1 (which the link table takes wherever they are); Python decodes
the path of each record under a prefix, asks ``RowPlacement`` for its directory's row
(remembering the last one: files of a directory are usually consecutive) and
``FileClassifier`` for its class. Paths that do not decode are counted in
``UndecodablePaths`` and skipped.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

import numpy as np

from humgen_storage.inspect.classes import FileClassifier
from humgen_storage.inspect.placing import NOWHERE, PlacedRecords, RowPlacement
from humgen_storage.inspect.results import UndecodablePaths
from humgen_storage.inspect.tables import Mask, Positions
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.paths import PathDecodeError
from humgen_storage.mpistat.patterns import Format

_FILE, _DIRECTORY = ord("f"), ord("d")
# Records of a block handed to Python at a time.
_BATCH = 2048

Placed = tuple[list[int], list[int]]  # a batch's row ids, and file classes (-1: none)


class PythonPlacer:
    """Places records one at a time in Python (see the module's docstring)."""

    def __init__(
        self,
        placement: RowPlacement,
        classifier: FileClassifier,
        path_format: Format,
        prefixes: tuple[bytes, ...] | None,
        undecodable: UndecodablePaths,
    ) -> None:
        self.placement = placement
        self.classifier = classifier
        self.undecodable = undecodable
        self.prefixes = prefixes
        self._decode: Callable[[bytes], bytes] = path_format.decode_path
        self._base64 = path_format is Format.BASE64
        # Files of one directory are usually consecutive: remember the last parent's row.
        self._last_parent: bytes | None = None
        self._last_row = NOWHERE

    def place(
        self, block: bytes, columns: BlockColumns, first_line: int, only: Positions | None = None
    ) -> PlacedRecords:
        """The records of ``block`` that count (``only``: of these lines alone). The
        order key of a record is ``first_line`` plus its position in the block."""
        separators = columns.separators
        starts = columns.line_starts()

        def paths(rows: Positions) -> list[bytes]:
            return [
                block[s:e]
                for s, e in zip(starts[rows].tolist(), separators[rows, 0].tolist(), strict=True)
            ]

        kinds = columns.column("type")
        is_file = kinds == _FILE
        inside = self._inside(block, starts)  # None: no prefix filter, every line
        if only is not None:
            wanted = np.zeros(len(columns), dtype=bool)
            wanted[only] = True
            inside = wanted if inside is None else inside & wanted
            is_file &= wanted
        # Files whose nlink is not written "1": 0 (no bytes), > 1 (hard-linked) or odd.
        plain = columns.field_is("nlink", b"1")
        odd = np.flatnonzero(is_file & ~plain)
        files = is_file if inside is None else is_file & inside
        linked = empty = odd[:0]
        if len(odd):
            counts = columns.unsigned("nlink", odd)
            linked = odd[counts > 1]
            empty = odd[counts == 0]
            files[linked] = False  # placed with the links

        # In batches: the Python objects of a batch (path fields, row ids) are all that
        # is alive at a time, a fraction of a block's when it lies under a root.
        file_lines = np.flatnonzero(files)
        file_rows, file_kinds = self._batches(file_lines, first_line, paths, self._files)
        directories = kinds == _DIRECTORY
        directory_lines = np.flatnonzero(directories if inside is None else directories & inside)
        directory_rows, own = self._batches(directory_lines, first_line, paths, self._directories)
        link_rows = np.full(len(linked), NOWHERE, dtype=np.intp)
        link_kinds = np.full(len(linked), -1, dtype=np.intp)
        at = np.arange(len(linked)) if inside is None else np.flatnonzero(inside[linked])
        if len(at):
            link_rows[at], link_kinds[at] = self._batches(
                linked[at], first_line, paths, self._files
            )

        placed_files = file_rows >= 0
        file_lines = file_lines[placed_files]
        file_sizes = columns.unsigned("size", file_lines)
        file_sizes[np.isin(file_lines, empty)] = 0
        placed_directories = directory_rows >= 0
        directory_lines = directory_lines[placed_directories]
        return PlacedRecords(
            file_lines=file_lines,
            file_rows=file_rows[placed_files],
            file_kinds=file_kinds[placed_files],
            file_sizes=file_sizes,
            file_mtimes=columns.times("mtime", file_lines),
            directory_lines=directory_lines,
            directory_rows=directory_rows[placed_directories],
            directory_own=own[placed_directories] != 0,
            directory_mtimes=columns.times("mtime", directory_lines),
            directory_gids=columns.unsigned("gid", directory_lines),
            link_lines=linked,
            link_rows=link_rows,
            link_kinds=link_kinds,
            link_sizes=columns.unsigned("size", linked),
            link_mtimes=columns.times("mtime", linked),
            link_devices=columns.unsigned("dev", linked),
            link_inodes=columns.unsigned("inode", linked),
        )

    def _inside(self, block: bytes, starts: Positions) -> Mask | None:
        """Lines whose encoded path starts with a root's prefix; None when every line may."""
        if self.prefixes is None:
            return None
        inside = np.zeros(len(starts), dtype=bool)
        for prefix in self.prefixes:
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

    @staticmethod
    def _batches(
        lines: Positions,
        first_line: int,
        paths: Callable[[Positions], list[bytes]],
        place: Callable[[list[int], list[bytes]], Placed],
    ) -> tuple[Positions, Positions]:
        """``place`` on the records of ``lines`` a batch at a time: row ids and classes."""
        rows: list[int] = []
        classes: list[int] = []
        for start in range(0, len(lines), _BATCH):
            batch = lines[start : start + _BATCH]
            batch_rows, batch_classes = place((batch + first_line).tolist(), paths(batch))
            rows += batch_rows
            classes += batch_classes
        return np.array(rows, dtype=np.intp), np.array(classes, dtype=np.intp)

    # -- the hot path -----------------------------------------------------------------

    def _files(self, orders: list[int], fields: list[bytes]) -> Placed:
        """Files under a root's prefix: each one's row id and class (-1: none)."""
        # Locals for speed: this loop runs once per record, up to 1e9 times a volume.
        decode = self._decode
        base64 = self._base64
        a2b_base64 = binascii.a2b_base64
        may_match = self.classifier.may_match
        class_of = self.classifier.position
        place = self.placement.place
        undecodable = self.undecodable
        last_parent = self._last_parent
        last_row = self._last_row
        row_ids: list[int] = []
        append = row_ids.append
        classes = [-1] * len(fields)
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
                undecodable.add(orders[index], f"undecodable path: {exc}")
                append(NOWHERE)
                continue
            if b"\0" in path:
                undecodable.add(orders[index], "NUL byte in path")
                append(NOWHERE)
                continue
            parent, _, name = path.rpartition(b"/")
            if parent != last_parent:
                last_parent = parent
                last_row = place(parent)[0]
            append(last_row)
            if last_row >= 0 and (may_match is None or may_match(name) is not None):
                kind = class_of(name)
                if kind is not None:
                    classes[index] = kind
        self._last_parent = last_parent
        self._last_row = last_row
        return row_ids, classes

    def _directories(self, orders: list[int], fields: list[bytes]) -> Placed:
        """Directories under a root's prefix: each one's row id, and 1 when it is the
        row's own directory (else 0)."""
        rows: list[int] = []
        own: list[int] = []
        for index, path_field in enumerate(fields):
            try:
                path = self._decode(path_field)
            except PathDecodeError as exc:
                self.undecodable.add(orders[index], str(exc))
                rows.append(NOWHERE)
                own.append(0)
                continue
            row, is_own = self.placement.place(path)
            rows.append(row)
            own.append(int(is_own))
        return rows, own
