"""The split's description files, written beside the group files: ``index.txt``
(TreeServe's estimate of build time and memory per group, spec section 6) and the
``groupfile``/``passwdfile`` copies of the system's databases.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.config import SplitterConfig
from humgen_storage.split.groupfiles import INDEX_FILE, GroupFileTotals

GROUP_DB_FILE = "groupfile"
PASSWD_DB_FILE = "passwdfile"

INDEX_HEADER = ("Group", "Build time (sec)", "Memory use (bytes)")


@dataclass(frozen=True)
class IndexConstants:
    """The TreeServe estimate's constants. Their values (and defaults) are the
    ``[splitter]`` section's: built from it by ``from_config`` and nowhere else."""

    lines_per_second: float
    base_seconds: float
    # (dir % below which it applies, bytes per node) in increasing order; the last
    # pair's bound is +inf.
    node_bytes_bands: tuple[tuple[float, int], ...]
    node_overhead: int

    @classmethod
    def from_config(cls, splitter: SplitterConfig) -> IndexConstants:
        return cls(
            lines_per_second=splitter.lines_per_second,
            base_seconds=splitter.base_seconds,
            node_bytes_bands=splitter.node_bytes_bands,
            node_overhead=splitter.node_overhead,
        )


@dataclass(frozen=True)
class IndexRow:
    group: str
    build_seconds: float
    memory_bytes: int

    def line(self) -> str:
        # The float as Python prints it (repr), as the legacy splitter did.
        return f"{self.group}\t{self.build_seconds!r}\t{self.memory_bytes}\n"


def bytes_per_node(dir_percent: float, bands: Sequence[tuple[float, int]]) -> int:
    for bound, per_node in bands:
        if dir_percent < bound:
            return per_node
    return bands[-1][1]


def index_row(group: str, lines: int, dirs: int, constants: IndexConstants) -> IndexRow:
    """TreeServe's estimate for a group of ``lines`` records, ``dirs`` of them directories."""
    build_seconds = lines / constants.lines_per_second + constants.base_seconds
    dir_percent = 100 * dirs / lines if lines else 0.0
    per_node = bytes_per_node(dir_percent, constants.node_bytes_bands)
    memory = int((2 * dirs + constants.node_overhead) * per_node)
    return IndexRow(group, float(build_seconds), memory)


def index_sort_key(stem: str, by_id: bool) -> tuple[int, bytes]:
    """Rows by name, comparing bytes; with --id the stems are gids, by number."""
    if by_id and stem.isdigit():
        return (int(stem), b"")
    return (0, stem.encode("utf-8", "surrogateescape"))


def write_index(
    build_dir: Path, totals: Iterable[GroupFileTotals], constants: IndexConstants, by_id: bool
) -> int:
    """``index.txt``: one row per group file, ordered by name; returns the row count."""
    rows = sorted(totals, key=lambda t: index_sort_key(t.stem, by_id))
    with open(
        build_dir / INDEX_FILE, "w", encoding="utf-8", errors="surrogateescape", newline="\n"
    ) as out:
        out.write("\t".join(INDEX_HEADER) + "\n")
        for total in rows:
            out.write(index_row(total.stem, total.lines, total.dirs, constants).line())
    return len(rows)


def _getent_line(fields: Sequence[object]) -> bytes:
    # Names are bytes on the system; Python decoded them with surrogateescape.
    return os.fsencode(":".join(str(f) for f in fields)) + b"\n"


def write_getent_files(build_dir: Path) -> None:
    """``groupfile`` and ``passwdfile``: the system's databases as ``getent`` prints them.

    The password field is always ``x``: these files are copied off the cluster and
    must never carry a hash, whatever the local files hold.
    """
    with open(build_dir / GROUP_DB_FILE, "wb") as out:
        for group in grp.getgrall():
            out.write(_getent_line((group.gr_name, "x", group.gr_gid, ",".join(group.gr_mem))))
    with open(build_dir / PASSWD_DB_FILE, "wb") as out:
        for user in pwd.getpwall():
            out.write(
                _getent_line(
                    (
                        user.pw_name,
                        "x",
                        user.pw_uid,
                        user.pw_gid,
                        user.pw_gecos,
                        user.pw_dir,
                        user.pw_shell,
                    )
                )
            )
