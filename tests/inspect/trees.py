"""The hand-made trees the inspect tests share, and the records they are built of.

Every expected number in tests/inspect was worked out by hand from these records:
TREE_115 is one project ("alpha") spread over two MDTs of volume 115 (base64), TREE_118
a small volume 118 (written in the wrstat format). Sizes are multiples of U, a quarter
of a TiB, so that sizes in TiB are exact decimals. Holds no tests.
"""

from __future__ import annotations

from humgen_storage.mpistat.writer import Record

SECONDS_PER_DAY = 86400
REF = 1_700_000_000  # the input file's mtime: the reference for Last Modified
U = 2**38  # a quarter of a TiB, so that sizes in TiB are exact decimals

ROOTS_115 = (
    "lustre/scratch115/realdata/mdt[0-9]/projects",
    "lustre/scratch115/realdata/mdt[0-9]/teams",
)
ROOTS_118 = ("lustre/scratch118/humgen/hgi/projects",)

M0 = b"/lustre/scratch115/realdata/mdt0"
M1 = b"/lustre/scratch115/realdata/mdt1"


def d(path: bytes, gid: int, days_ago: float, inode: int = 0) -> Record:
    return Record(
        path=path,
        size=4096,
        gid=gid,
        mtime=int(REF - days_ago * SECONDS_PER_DAY),
        type="d",
        inode=inode,
    )


def f(path: bytes, units: int, days_ago: float, gid: int = 1001, **kwargs: int) -> Record:
    return Record(
        path=path,
        size=units * U,
        gid=gid,
        mtime=int(REF - days_ago * SECONDS_PER_DAY),
        type="f",
        **kwargs,
    )


# One project ("alpha") spread over two MDTs; numbers are (size in U, days ago).
TREE_115 = (
    d(b"/lustre/scratch115", 0, 100),
    d(M0 + b"/projects", 1003, 30),  # the root row's group: the first record of projects
    d(M0 + b"/projects/alpha", 1001, 20),
    f(M0 + b"/projects/alpha/readme.txt", 1, 40),  # no class
    d(M0 + b"/projects/alpha/seq", 1002, 15),  # owned by team113, its files by hgi
    f(M0 + b"/projects/alpha/seq/s1.bam", 4, 5),
    f(M0 + b"/projects/alpha/seq/s1.cram.gz", 2, 6),
    f(M0 + b"/projects/alpha/seq/link.bam", 8, 3, nlink=2, inode=500, dev=7),  # first name
    Record(path=M0 + b"/projects/alpha/seq/ln.bam", size=999, mtime=REF, type="l"),  # ignored
    d(M0 + b"/projects/alpha/seq/deep", 1001, 2),
    f(M0 + b"/projects/alpha/seq/deep/x.vcf.gz", 1, 7),
    d(M0 + b"/projects/alpha/users", 1001, 50),
    d(M0 + b"/projects/alpha/users/alice", 1006, 50),
    f(M0 + b"/projects/alpha/users/alice/data.bed", 1, 51),
    d(M0 + b"/teams", 1002, 70),
    d(M0 + b"/teams/t113", 1002, 70),
    f(M0 + b"/teams/t113/z.cram", 1, 71),
    f(M0 + b"/other/q.bam", 1, 1),  # under no root
    d(M1 + b"/projects", 1004, 1),  # a second record of the root: not the first
    f(M1 + b"/projects/top.vcf", 1, 80),  # directly in the root
    d(M1 + b"/projects/alpha", 1002, 25),  # a second record of alpha: not the first
    d(M1 + b"/projects/alpha/seq", 1005, 26),
    f(M1 + b"/projects/alpha/seq/s2.sam", 1, -100),  # mtime in the future: 0 days
    f(M1 + b"/projects/alpha/seq/gone.ped", 5, 1, nlink=0),  # deleted mid-crawl: 0 bytes
    d(M1 + b"/projects/beta", 1004, 60),
    f(M1 + b"/projects/beta/link-again.bam", 8, 3, nlink=2, inode=500, dev=7),  # second name
    d(M1 + b"/projects/beta/Users", 1004, 60),
    d(M1 + b"/projects/beta/Users/bob", 1005, 60),
    f(M1 + b"/projects/beta/Users/bob/b.bcf", 2, 61),
    d(M1 + b"/projects/beta/caf\xe9\tnew\nline", 1003, 62),  # not UTF-8, a tab, a newline
    f(M1 + b"/projects/beta/caf\xe9\tnew\nline/new\nline.ped", 1, 63),
)

H118 = b"/lustre/scratch118/humgen/hgi/projects"
TREE_118 = (
    d(b"/lustre/scratch118", 0, 100),
    d(H118, 1001, 10),
    d(H118 + b"/gamma", 1002, 4),
    f(H118 + b"/gamma/g.cram", 3, 4),
    f(H118 + b'/gamma/q"x\\.vcf', 1, 8),  # escapes in the wrstat quoting
    d(H118 + b"/gamma/sub", 4242, 9),  # a gid the directory does not know
    f(H118 + b"/gamma/sub/a.bam", 1, 9),
)
