"""The split's per-block aggregate: one block of mpistat lines validated and cut by
destination group (``BlockSplitter``), with the directory records counted per group
for the TreeServe estimate (``count_directories``).

Pure and per block: it runs in ``map_raw_blocks``' helper processes; the job
(``split/job.py``) writes what it returns, in file order.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

import numpy as np

from humgen_storage.directory import GroupDirectory
from humgen_storage.mpistat.paths import wrstat_to_base64_lines
from humgen_storage.mpistat.patterns import (
    SMALL_COUNT,
    Format,
    count_lines,
    explain_bad_line,
    field_runs,
)
from humgen_storage.split.select import GroupSelector, Rule

_TAB_D = np.frombuffer(b"\td", np.uint16)[0]  # the two bytes as one number, in native order


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


class _Kind(enum.Enum):
    WRITE = 1  # every record goes to the group's file
    WRITE_UNDER_PREFIX = 2  # records under a special prefix go to the group's file
    UNSAFE = 3  # every record is selected, but the group's name is not a file name
    UNSAFE_UNDER_PREFIX = 4  # the same, for records under a special prefix
    SKIP = 5  # never selected


_UNDER_PREFIX = (_Kind.WRITE_UNDER_PREFIX, _Kind.UNSAFE_UNDER_PREFIX)


@dataclass
class BlockSplit:
    """One block's contribution (computed in a block worker, pickled back)."""

    # stem -> (the group's selected lines in input order, joined; lines; directories)
    groups: dict[str, tuple[bytes, int, int]]
    # gid field -> records selected but not written: the group's name is not a file name
    unsafe: dict[bytes, int]
    undecodable: int  # paths the special-prefix check could not decode


# One group's runs of one block, in order, cut where the kind changes: (kind, runs).
# A group's gids almost always share one kind (one segment per block), but two gids
# may have one name and different kinds; then order is kept across segments.
_Segments = list[tuple[_Kind, list[bytes]]]


class BlockSplitter:
    """``func`` for ``map_raw_blocks``: validates one block and splits its lines by
    destination group, in one pass of the regular expression engine (``field_runs``).

    Made in the volume's process and inherited by the block workers (fork), each of
    which keeps its own gid decisions, made once per gid field.
    """

    def __init__(self, selector: GroupSelector, directory: GroupDirectory, fmt: Format) -> None:
        self.selector = selector
        self.directory = directory
        self.matcher = selector.matcher(fmt)
        # TreeServe decodes every path as base64: wrstat lines are rewritten (spec 6),
        # per group and block, once selected; a path that does not decode makes its
        # line malformed (spec 2.3), counted and logged by the reader as any other.
        self.rewrite = fmt is Format.WRSTAT
        # gid field -> (what to do, the group's file stem; "" when nothing is written)
        self.routes: dict[bytes, tuple[_Kind, str]] = {}

    def _route(self, gid_field: bytes) -> tuple[_Kind, str]:
        gid = int(gid_field)
        route = self.selector.route(gid, self.directory.name(gid))
        prefix_only = route.rule is Rule.UNDER_PREFIX
        decided: tuple[_Kind, str]
        if route.rule is Rule.NEVER:
            decided = (_Kind.SKIP, "")
        elif route.stem is None:
            decided = (_Kind.UNSAFE_UNDER_PREFIX if prefix_only else _Kind.UNSAFE, "")
        else:
            decided = (_Kind.WRITE_UNDER_PREFIX if prefix_only else _Kind.WRITE, route.stem)
        self.routes[gid_field] = decided
        return decided

    def __call__(
        self, fmt: Format, block: bytes, first_line: int
    ) -> tuple[BlockSplit, list[tuple[int, str]]]:
        runs, bad = field_runs(fmt, "gid", block, first_line)
        segments, unsafe_runs = self._file_runs(runs)
        undecodable_before = self.matcher.undecodable
        groups, malformed = self._join_groups(segments)
        if malformed:
            bad = sorted(bad + _numbered(malformed, block, first_line))
        unsafe_counts = {}
        for gid_field, (kind, runs_) in unsafe_runs.items():
            data = self._selected(runs_, kind in _UNDER_PREFIX)
            if data:
                unsafe_counts[gid_field] = count_lines(data)
        split = BlockSplit(groups, unsafe_counts, self.matcher.undecodable - undecodable_before)
        return split, bad

    def _file_runs(
        self, runs: list[tuple[bytes, bytes]]
    ) -> tuple[dict[str, _Segments], dict[bytes, tuple[_Kind, list[bytes]]]]:
        """A block's runs filed under their group's stem (segments by kind, in order),
        or under their gid field when the group's name is not a file name."""
        routes = self.routes
        # Python sees each run once, and only files it under its group: the prefix
        # checks and counts are done per group at the end, on the group's joined lines
        # (a few calls per group and block rather than one per run).
        segments: dict[str, _Segments] = {}
        unsafe_runs: dict[bytes, tuple[_Kind, list[bytes]]] = {}
        skip, unsafe, unsafe_under_prefix = _Kind.SKIP, _Kind.UNSAFE, _Kind.UNSAFE_UNDER_PREFIX
        for run, gid_field in runs:
            kind, stem = routes.get(gid_field) or self._route(gid_field)
            if kind is skip:
                continue
            if kind is unsafe or kind is unsafe_under_prefix:
                pending = unsafe_runs.get(gid_field)
                if pending is None:
                    unsafe_runs[gid_field] = (kind, [run])
                else:
                    pending[1].append(run)
                continue
            group = segments.get(stem)
            if group is None:
                segments[stem] = [(kind, [run])]
            elif group[-1][0] is kind:
                group[-1][1].append(run)
            else:
                group.append((kind, [run]))
        return segments, unsafe_runs

    def _join_groups(
        self, segments: dict[str, _Segments]
    ) -> tuple[dict[str, tuple[bytes, int, int]], list[bytes]]:
        """Each group's selected lines joined (rewritten as base64 lines for wrstat),
        with their line and directory counts; and the lines whose path did not decode."""
        groups = {}
        malformed: list[bytes] = []
        for stem, group in segments.items():
            data = b"".join([self._selected(runs_, kind in _UNDER_PREFIX) for kind, runs_ in group])
            if data and self.rewrite:
                data, undecodable = wrstat_to_base64_lines(data)
                malformed += undecodable
            if data:
                groups[stem] = (data, count_lines(data), count_directories(data))
        return groups, malformed

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
    wanted = Counter(malformed)
    numbered = []
    for offset, line in enumerate(block.split(b"\n")[:-1]):
        key = line[: line.rfind(b"\t")]
        if wanted[key]:
            wanted[key] -= 1
            numbered.append((first_line + offset, explain_bad_line(Format.WRSTAT, line)))
    return numbered
