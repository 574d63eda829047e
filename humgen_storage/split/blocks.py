"""The split's per-block work: one block of mpistat lines validated and cut by
destination group (``BlockSplitter``), each group's selected lines gathered, rewritten
as TreeServe's base64 lines for wrstat input, into one buffer per block.

Pure and per block: it runs in ``map_raw_blocks``' helpers; the job (``split/job.py``)
writes what it returns, in file order. The compiled kernel does a block in one pass
over its lines (``_kernel_split.c``), without the GIL, so its helpers are threads; the
numpy path cuts a block into runs of one gid with the regular expression engine and
files the runs in Python, in helper processes. Both give the same ``BlockSplit``: the
tests run both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from humgen_storage.directory import GroupDirectory
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.paths import wrstat_to_base64_lines
from humgen_storage.mpistat.patterns import (
    SMALL_COUNT,
    Format,
    count_lines,
    explain_bad_line,
    field_runs,
    numbered_bad_lines,
)
from humgen_storage.split.select import GroupSelector, Rule

_TAB_D = np.frombuffer(b"\td", np.uint16)[0]  # the two bytes as one number, in native order

# A route, as the compiled kernel reads it: the target's number shifted left by
# ROUTE_SHIFT, plus the flags.
ROUTE_UNDER_PREFIX = 1  # only records under a special prefix are selected
ROUTE_COUNT_ONLY = 2  # selected records are counted, not written: no file name
ROUTE_SHIFT = 2
_LARGEST_GID = 2**64 - 1  # what a valid gid field can hold
_UNROUTED = -1  # a gid field not looked up yet (a route is never negative)


def count_directories(data: bytes) -> int:
    """Records of directories among valid lines: the number of tabs followed by "d".
    Only the type field can start with "d" (the path comes first, every other field
    is digits), so there is one per directory.

    Counted with numpy on the data seen as 2-byte units, at even then odd offsets:
    vector compares, four times faster than ``bytes.count``, which goes byte by byte.
    """
    size = len(data)
    if size < SMALL_COUNT:
        return data.count(b"\td")
    even = np.frombuffer(data, np.uint16, count=size // 2)
    odd = np.frombuffer(data, np.uint16, count=(size - 1) // 2, offset=1)
    return int(np.count_nonzero(even == _TAB_D)) + int(np.count_nonzero(odd == _TAB_D))


@dataclass(frozen=True)
class RouteTable:
    """Where the records of each gid go, decided once per volume from the selector and
    the directory (``GroupSelector.route``).

    Targets are numbered: first the group files (``stems``), then one per gid whose
    group would be selected but has no file name (``counted_gids``: its records are
    counted for the warning, not written). A gid not in the table is never selected:
    it is not humgen and has no posixGroup.
    """

    stems: tuple[str, ...]
    counted_gids: tuple[int, ...]
    gids: Any  # numpy uint64, increasing: the kernel's look-up table
    routes: Any  # numpy int64, one each: target << ROUTE_SHIFT | flags
    by_gid: dict[int, int]  # gid -> route, the same, for the numpy path

    @classmethod
    def build(cls, selector: GroupSelector, directory: GroupDirectory) -> RouteTable:
        decided = [
            (gid, route)
            for gid in sorted(set(directory.groups) | selector.humgen_gids)
            if 0 <= gid <= _LARGEST_GID  # no valid line has another
            and (route := selector.route(gid, directory.name(gid))).rule is not Rule.NEVER
        ]
        numbers: dict[str, int] = {}
        for _, route in decided:
            if route.stem is not None:
                numbers.setdefault(route.stem, len(numbers))
        counted: list[int] = []
        by_gid: dict[int, int] = {}
        for gid, route in decided:
            flags = ROUTE_UNDER_PREFIX if route.rule is Rule.UNDER_PREFIX else 0
            if route.stem is None:
                target = len(numbers) + len(counted)
                counted.append(gid)
                flags |= ROUTE_COUNT_ONLY
            else:
                target = numbers[route.stem]
            by_gid[gid] = target << ROUTE_SHIFT | flags
        return cls(
            stems=tuple(numbers),
            counted_gids=tuple(counted),
            gids=np.fromiter(by_gid, np.uint64, len(by_gid)),
            routes=np.fromiter(by_gid.values(), np.int64, len(by_gid)),
            by_gid=by_gid,
        )


@dataclass
class BlockSplit:
    """One block's contribution (computed in a block worker, pickled back)."""

    data: bytes  # the selected lines of every group, group after group
    # (group number in RouteTable.stems, end of its lines in data, lines, directories),
    # in the order of the block's first record of each group; a group's lines start
    # where the one before ends.
    groups: list[tuple[int, int, int, int]]
    # gid -> records selected but not written: the group's name is not a file name
    unsafe: dict[int, int]
    undecodable: int  # paths the special-prefix check could not decode

    @property
    def lines(self) -> int:
        return sum(group[2] for group in self.groups)

    def pieces(self) -> Iterator[tuple[int, memoryview, int, int]]:
        """(group number, its lines, how many, how many are directories) in order."""
        data = memoryview(self.data)
        start = 0
        for number, end, lines, dirs in self.groups:
            yield number, data[start:end], lines, dirs
            start = end


# One group's runs of one block, in order, cut where ``under_prefix`` changes: a
# group's gids almost always share it (one segment per block), but two gids may have
# one name and different rules; then order is kept across segments.
_Segments = list[tuple[bool, list[bytes]]]


class BlockSplitter:
    """``func`` for ``map_raw_blocks``: validates one block and splits its lines by
    destination group.

    Made in the volume's process and shared by its helper threads (the compiled
    kernel's path keeps no state between blocks) or inherited by its helper processes
    (fork), each of which keeps its own gid look-ups.
    """

    def __init__(self, selector: GroupSelector, directory: GroupDirectory, fmt: Format) -> None:
        self.selector = selector
        self.table = RouteTable.build(selector, directory)
        self.matcher = selector.matcher(fmt)
        self.prefixes = tuple(zip(selector.special_prefixes, selector.below_prefixes, strict=True))
        # TreeServe decodes every path as base64: wrstat lines are rewritten (spec 6);
        # a path that does not decode makes its line malformed (spec 2.3), counted and
        # logged by the reader as any other.
        self.rewrite = fmt is Format.WRSTAT
        # gid field -> route (None: never selected), for the numpy path
        self.routes: dict[bytes, int | None] = {}

    @property
    def releases_gil(self) -> bool:
        """True on the compiled kernel, which splits a block without the GIL: threads
        of one process then split blocks in parallel."""
        return kernel.compiled() is not None

    def __call__(
        self, fmt: Format, block: bytes, first_line: int
    ) -> tuple[BlockSplit, list[tuple[int, str]]]:
        compiled = kernel.compiled()
        if compiled is None:
            return self._split_runs(fmt, block, first_line)
        table = self.table
        data, groups, counted, bad_lines = compiled.split_block(
            block, fmt is Format.WRSTAT, table.gids, table.routes, self.prefixes
        )
        # Every path of a valid line decodes (the kernel checks it): none is undecodable.
        split = BlockSplit(data, groups, self._unsafe(counted), 0)
        return split, numbered_bad_lines(fmt, block, first_line, bad_lines)

    def _unsafe(self, counted: list[tuple[int, int]]) -> dict[int, int]:
        first = len(self.table.stems)
        return {self.table.counted_gids[target - first]: lines for target, lines in counted}

    # -- the numpy path

    def _split_runs(
        self, fmt: Format, block: bytes, first_line: int
    ) -> tuple[BlockSplit, list[tuple[int, str]]]:
        runs, bad = field_runs(fmt, "gid", block, first_line)
        segments, counted_runs = self._file_runs(runs)
        undecodable_before = self.matcher.undecodable
        pieces: list[bytes] = []
        groups: list[tuple[int, int, int, int]] = []
        malformed: list[bytes] = []
        end = 0
        for target, group in segments.items():
            data = b"".join([self._selected(runs_, under) for under, runs_ in group])
            if data and self.rewrite:
                data, undecodable = wrstat_to_base64_lines(data)
                malformed += undecodable
            if data:
                pieces.append(data)
                end += len(data)
                groups.append((target, end, count_lines(data), count_directories(data)))
        if malformed:
            bad = sorted(bad + _numbered(malformed, block, first_line))
        counted = []
        for target, (under, runs_) in counted_runs.items():
            data = self._selected(runs_, under)
            if data:
                counted.append((target, count_lines(data)))
        undecodable_count = self.matcher.undecodable - undecodable_before
        return BlockSplit(b"".join(pieces), groups, self._unsafe(counted), undecodable_count), bad

    def _route(self, gid_field: bytes) -> int | None:
        route = self.table.by_gid.get(int(gid_field))
        self.routes[gid_field] = route
        return route

    def _file_runs(
        self, runs: list[tuple[bytes, bytes]]
    ) -> tuple[dict[int, _Segments], dict[int, tuple[bool, list[bytes]]]]:
        """A block's runs filed under their target: a group file's (segments, in the
        order of the block's first run of each), or a count's."""
        routes = self.routes
        # Python sees each run once, and only files it under its target: the prefix
        # checks and counts are done per group at the end, on the group's joined lines
        # (a few calls per group and block rather than one per run).
        segments: dict[int, _Segments] = {}
        counted: dict[int, tuple[bool, list[bytes]]] = {}
        for run, gid_field in runs:
            route = routes.get(gid_field, _UNROUTED)
            if route == _UNROUTED:
                route = self._route(gid_field)
            if route is None:
                continue
            target, under = route >> ROUTE_SHIFT, bool(route & ROUTE_UNDER_PREFIX)
            if route & ROUTE_COUNT_ONLY:
                counted.setdefault(target, (under, []))[1].append(run)
                continue
            group = segments.get(target)
            if group is None:
                segments[target] = [(under, [run])]
            elif group[-1][0] is under:
                group[-1][1].append(run)
            else:
                group.append((under, [run]))
        return segments, counted

    def _selected(self, runs: list[bytes], under_prefix: bool) -> bytes:
        """The lines of ``runs`` (all, or those under a special prefix), joined, each
        with its newline."""
        data = b"".join(runs)
        if not under_prefix:
            return data
        lines = self.matcher.lines_under_prefix(data)
        if not lines:
            return b""
        lines.append(b"")  # the last line's newline
        return b"\n".join(lines)


def _numbered(malformed: list[bytes], block: bytes, first_line: int) -> list[tuple[int, str]]:
    """The malformed lines of a wrstat block, given without their 12th field and
    newline, as (line number, reason). Runs on bad input only."""
    wanted: dict[bytes, int] = {}
    for line in malformed:
        wanted[line] = wanted.get(line, 0) + 1
    numbered = []
    for offset, line in enumerate(block.split(b"\n")[:-1]):
        key = line[: line.rfind(b"\t")]
        if wanted.get(key):
            wanted[key] -= 1
            numbered.append((first_line + offset, explain_bad_line(Format.WRSTAT, line)))
    return numbered
