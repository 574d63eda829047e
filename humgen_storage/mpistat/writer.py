"""Writing mpistat lines, in one layout: used by ``crawl``, the demo data, the tests
and the benchmark.

The layout is written once, as the ``%`` templates below: ``Record.line`` for input
built record by record, ``stat_line`` for the crawler (one line per ``lstat``, with no
object per file), and the benchmark's generator formats millions of lines with
``BASE64_LINE`` itself.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from humgen_storage.mpistat.paths import encode_base64_path, go_quote
from humgen_storage.mpistat.patterns import Format

# path, size, uid, gid, atime, mtime, ctime, type, inode, nlink, dev (spec section 2).
BASE64_LINE = b"%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\n"
# wrstat: the same fields (the path Go-quoted), then the apparent size.
WRSTAT_LINE = BASE64_LINE[:-1] + b"\t%d\n"

# The type field of each kind of file; anything else is "X".
_TYPES = {
    stat.S_IFREG: b"f",
    stat.S_IFDIR: b"d",
    stat.S_IFLNK: b"l",
    stat.S_IFSOCK: b"s",
    stat.S_IFBLK: b"b",
    stat.S_IFCHR: b"c",
    stat.S_IFIFO: b"F",
}


def stat_line(path: bytes, st: os.stat_result) -> bytes:
    """One mpistat line (base64 format) for ``path`` with the ``lstat`` result ``st``."""
    size = min(st.st_size, st.st_blocks * 512)
    kind = _TYPES.get(stat.S_IFMT(st.st_mode), b"X")
    # Whole seconds, rounded down (also for times before 1970).
    atime = st.st_atime_ns // 1_000_000_000
    mtime = st.st_mtime_ns // 1_000_000_000
    ctime = st.st_ctime_ns // 1_000_000_000
    return BASE64_LINE % (
        encode_base64_path(path),
        size,
        st.st_uid,
        st.st_gid,
        atime,
        mtime,
        ctime,
        kind,
        st.st_ino,
        st.st_nlink,
        st.st_dev,
    )


@dataclass(frozen=True)
class Record:
    """One mpistat record, for producing input (never used on the reading hot path)."""

    path: bytes
    size: int = 0
    uid: int = 0
    gid: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    type: str = "f"
    inode: int = 0
    nlink: int = 1
    dev: int = 1
    apparent_size: int | None = None

    def line(self, fmt: Format = Format.BASE64) -> bytes:
        fields = (
            self.size,
            self.uid,
            self.gid,
            self.atime,
            self.mtime,
            self.ctime,
            self.type.encode(),
            self.inode,
            self.nlink,
            self.dev,
        )
        if fmt is Format.WRSTAT:
            apparent = self.size if self.apparent_size is None else self.apparent_size
            return WRSTAT_LINE % (go_quote(self.path), *fields, apparent)
        return BASE64_LINE % (encode_base64_path(self.path), *fields)
