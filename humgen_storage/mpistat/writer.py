"""Writing mpistat lines: used by ``crawl``, the demo data, the tests and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass

from humgen_storage.mpistat.paths import encode_base64_path, go_quote
from humgen_storage.mpistat.patterns import Format


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
        if fmt is Format.WRSTAT:
            path = go_quote(self.path)
        else:
            path = encode_base64_path(self.path)
        numbers = [self.size, self.uid, self.gid, self.atime, self.mtime, self.ctime]
        tail = [self.inode, self.nlink, self.dev]
        fields = [
            path,
            *(b"%d" % n for n in numbers),
            self.type.encode(),
            *(b"%d" % n for n in tail),
        ]
        if fmt is Format.WRSTAT:
            apparent = self.size if self.apparent_size is None else self.apparent_size
            fields.append(b"%d" % apparent)
        return b"\t".join(fields) + b"\n"
