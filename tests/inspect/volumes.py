"""Generated volumes for the inspector's placer tests: directories before their files,
odd bytes in names, users/ trees, every nlink, symlinks, future mtimes."""

from __future__ import annotations

import random
from collections.abc import Sequence

from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record

REF = 1_700_000_000
VOLUME = b"/lustre/scratch118"
CLASSES = (
    ("BAM", r"\.(bam|sam)(\.gz)?$"),
    ("CRAM", r"\.cram(\.gz)?$"),
    ("VCF", r"\.(vcf|bcf|gvcf)(\.gz)?$"),
    ("PEDBED", r"\.(ped|bed)(\.gz)?$"),
)
# Roots that share their encoded prefix with places outside them (projects_old).
BENCH_ROOTS = ("lustre/scratch118/humgen/projects", "lustre/scratch118/humgen/teams")
NAMES = (
    b"a.bam", b"b.sam.gz", b"c.BAM", b"d.cram", b"e.vcf.gz\n", b"bam", b"bam\n", b"x1",
    b"tmpfile", b"f.b$m", b"caf\xe9.bed", b"tab\there.ped", b'q"x\\.vcf', b"plain", b".gz",
)  # fmt: skip
COMPONENTS = (
    b"p1", b"p2", b"users", b"USERS", b"Users", b"al", b"bo", b"seq", b"deep",
    b"caf\xe9", b"new\nline", b"t\tab", b"back\\slash", b'quo"te', b"sp ace",
)  # fmt: skip
AREAS = (
    b"/humgen/projects", b"/humgen/projects_old", b"/humgen/teams", b"/humgen/hgi/projects",
    b"/humgen", b"/other", b"/humgen/proj", b"/humgenx",
)  # fmt: skip


def volume(seed: int, records: int = 1500) -> list[Record]:
    """A generated volume: directories before their files, odd bytes in names, users/
    trees, nlink 0, 1 and > 1 (an inode's names far apart), symlinks, future mtimes."""
    rnd = random.Random(seed)
    out = [Record(path=VOLUME, type="d", gid=1, mtime=REF - 100)]
    inodes = list(range(1, 40))
    while len(out) < records:
        directory = VOLUME + rnd.choice(AREAS)
        for _ in range(rnd.randint(0, 6)):
            directory += b"/" + rnd.choice(COMPONENTS)
        mtime = REF - rnd.randint(-1000, 10**7)
        out.append(Record(path=directory, type="d", gid=rnd.randint(1, 9), mtime=mtime))
        for _ in range(rnd.randint(0, 8)):
            nlink = rnd.choice((1, 1, 1, 1, 0, 2, 3))
            out.append(
                Record(
                    path=directory + b"/" + rnd.choice(NAMES),
                    size=rnd.choice((0, 1, 4096, 2**40, 2**62)),
                    mtime=REF - rnd.randint(-1000, 10**7),
                    type=rnd.choice("fffffl"),
                    nlink=nlink,
                    inode=rnd.choice(inodes) if nlink > 1 else rnd.randint(100, 10**6),
                    dev=rnd.choice((1, 1, 2)),
                )
            )
    return out


def lines_of(records: Sequence[Record], fmt: Format) -> bytes:
    return b"".join(record.line(fmt) for record in records)
