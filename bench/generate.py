"""Synthetic, realistic mpistat input for the benchmark (fixed seed, reproducible).

One volume file ``<YYYYMMDD>_118.dat.gz`` in the base64 mpistat format (spec 2.2),
plus what the jobs need around it: an LDIF directory (posixGroups, humgen groups
with PIs, people), a JSON quota table for the ``fixtures/bin/lfs`` stand-in, and
``groups.json`` (gid -> name, humgen flag, roots, special prefixes) for the legacy
reference loops.

Shape of the tree (all under ``/lustre/scratch118``):

* ``humgen/projects/<project>/...`` and ``humgen/teams/<team>/...``: the inspector
  roots, about ``INSIDE_FRACTION`` of the lines ("narrow roots"); some projects hold
  ``users/<name>/`` trees (one more level in the inspector's cut);
* outside the roots: ``humgen/hgi/projects``, ``humgen/old-team-data``,
  ``humgen/projects_old`` (shares the roots' base64 prefix, but is not below them),
  ``tol/projects``, ``vr/projects`` (the splitter's special prefix), ``casm``,
  ``sciops``, ``references`` and ``users/<name>`` trees;
* about 10% directories, every file class (.bam .sam.gz .cram .vcf.gz .g.vcf.gz
  .bcf .ped .bed ... and unclassified), symlinks and a few special files;
* hard links: about 1% of files have nlink 2-3; the other names come later, mostly
  close by, a third of them far later (another block, another worker);
* a few nlink 0 records, a few mtimes in the future, odd bytes in some names (tab,
  newline, backslash, space, UTF-8 and non-UTF-8 bytes);
* about 200 gids, a third of them humgen, most lines owned by the unit's group;
  sizes log-normal per file class.

Records are built in Python from batches of numpy draws and written with isal's
igzip at level 1 (gzip fallback), a few MiB at a time.

With ``--format wrstat`` the same records are also written in the wrstat variant
(Go-quoted path, a 12th field: the apparent size, here the size), converted from the
base64 file into a dataset directory of its own, ``n<N>-s<S>-wrstat``.

Usage: ``python bench/generate.py --lines N [--seed S] [--data-dir DIR] [--force]
[--format base64|wrstat]``.
"""

from __future__ import annotations

import argparse
import binascii
import calendar
import dataclasses
import datetime as dt
import heapq
import json
import math
import os
import random
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from humgen_storage.mpistat.paths import go_quote
from humgen_storage.mpistat.writer import BASE64_LINE

try:
    from isal import igzip as gzip_writer

    WRITER = "isal.igzip"
except ImportError:  # pragma: no cover - isal is a dependency of the project
    import gzip as gzip_writer  # type: ignore[no-redef]

    WRITER = "gzip"

# Bump when the generated data changes, so cached datasets are rebuilt.
GENERATOR_VERSION = 5

DATE = dt.date(2026, 11, 2)
VOLUME = "118"
VOLUME_ROOT = b"/lustre/scratch118"
# The input file's mtime: the report's reference for "Last Modified (days)".
REFERENCE = calendar.timegm((2026, 11, 2, 6, 0, 0))
DEV = 2_882_400_018
FIRST_INODE = 144_115_205_255_725_057

INSPECTOR_ROOTS = ("lustre/scratch118/humgen/projects", "lustre/scratch118/humgen/teams")
SPECIAL_PREFIXES = ("/lustre/scratch118/vr/projects",)
INSIDE_FRACTION = 0.20

DIR_FRACTION = 0.10  # directories among all records
HARDLINK_FRACTION = 0.01  # files with nlink 2-3
FAR_LINK_FRACTION = 0.33  # of the other names: anywhere later in the file
NLINK0_FRACTION = 0.0001
FUTURE_FRACTION = 0.0001
ODD_NAME_FRACTION = 0.0005
SYMLINK_FRACTION = 0.015
SPECIAL_FRACTION = 0.0002
EMPTY_FRACTION = 0.02
OTHER_GID_FRACTION = 0.08  # records whose gid is not the unit's
TEAM_MEMBERS = 12  # at most, besides a top-level directory's owner
FIRST_UID = 10_000
USER_GROUPS = 4  # the groups a user writes with besides a directory's own
# One uniform roll per file record picks its kind: [0, RARE_START) a plain file,
# [RARE_START, SYMLINK_START) the rare cases (then a plain file), the rest a symlink.
RARE_START = 0.9
SYMLINK_START = 1 - SYMLINK_FRACTION
T_NLINK0 = HARDLINK_FRACTION + NLINK0_FRACTION
T_FUTURE = T_NLINK0 + FUTURE_FRACTION
T_ODD = T_FUTURE + ODD_NAME_FRACTION
T_SPECIAL = T_ODD + SPECIAL_FRACTION

# (extension, share of files, median size in bytes)
FILE_KINDS: tuple[tuple[bytes, float, float], ...] = (
    (b".bam", 0.10, 2e8),
    (b".bam.bai", 0.06, 5e6),
    (b".sam.gz", 0.015, 3e8),
    (b".BAM", 0.002, 1e8),  # classes are case-sensitive: not a BAM
    (b".cram", 0.08, 8e7),
    (b".cram.crai", 0.05, 3e5),
    (b".vcf.gz", 0.08, 2e7),
    (b".vcf.gz.tbi", 0.04, 1e6),
    (b".g.vcf.gz", 0.02, 5e8),
    (b".vcf", 0.01, 5e7),
    (b".bcf", 0.02, 1e7),
    (b".ped", 0.01, 1e5),
    (b".bed", 0.02, 5e6),
    (b".bed.gz", 0.01, 2e6),
    (b".fastq.gz", 0.05, 4e8),
    (b".txt", 0.10, 2e4),
    (b".tsv", 0.06, 1e6),
    (b".log", 0.07, 5e4),
    (b".out", 0.04, 1e4),
    (b".err", 0.03, 5e3),
    (b".py", 0.03, 8e3),
    (b".sh", 0.03, 2e3),
    (b".R", 0.02, 5e3),
    (b".json", 0.02, 3e4),
    (b".h5", 0.01, 1e8),
    (b"", 0.021, 1e5),
)
SIZE_SIGMA = 1.6
MAX_SIZE = 1 << 42
SPECIAL_TYPES = (b"s", b"F", b"c", b"b", b"X")

TOP_DIR_NAMES = (
    b"data",
    b"analysis",
    b"raw",
    b"results",
    b"scripts",
    b"refs",
    b"tmp",
    b"work",
    b"pipelines",
    b"releases",
    b"qc",
    b"sequencing",
    b"imputation",
    b"gwas",
)
DIR_WORDS = (
    b"run",
    b"batch",
    b"sample",
    b"lane",
    b"chr",
    b"plate",
    b"cohort",
    b"study",
    b"job",
    b"v",
)
FILE_STEMS = (
    b"sample",
    b"SC",
    b"HG",
    b"NA",
    b"lane",
    b"part",
    b"chunk",
    b"out",
    b"merged",
    b"final",
)
ODD_FILE_NAMES = (
    b"with\ttab_%d.txt",
    b"new\nline_%d.bam",
    b"caf\xe9_%d.vcf.gz",  # latin-1: not UTF-8
    b"\xff\xfe_%d.bed",
    "na\u00efve_\u6587\u4ef6_%d.cram".encode(),
    b"back\\slash_%d.ped",
    b"sp ace %d (copy).txt",
    b"%d",
)
ODD_DIR_NAMES = (
    b"Run 2019 (old)",
    b"d\xe9j\xe0_vu",
    b"tab\tdir",
    b"line\nbreak",
    "r\u00e9sum\u00e9".encode(),
)
SYLLABLES = (
    "ibd",
    "gwas",
    "seq",
    "imm",
    "cell",
    "gen",
    "omic",
    "wgs",
    "rna",
    "atlas",
    "bio",
    "ukb",
    "hip",
    "brain",
    "gut",
    "heart",
    "mel",
    "scz",
    "t2d",
    "ped",
    "ddd",
    "int",
    "val",
    "hel",
    "neo",
)
SURNAMES = (
    "Adams",
    "Barrett",
    "Carter",
    "Davies",
    "Evans",
    "Fisher",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morgan",
    "Nowak",
    "Owen",
    "Patel",
    "Quinn",
    "Roberts",
    "Singh",
    "Taylor",
)


@dataclass
class Group:
    gid: int
    name: str
    humgen: bool
    named: bool = True  # False: no posixGroup in the directory
    pi: str | None = None  # uid of the PI's people entry


@dataclass
class Unit:
    """A top-level directory owned by one group, e.g. humgen/projects/ibdgwas."""

    path: bytes
    gid: int
    weight: float
    users: bool  # holds a users/<name>/ tree
    inside: bool
    lines: int = 0


@dataclass
class Dataset:
    """A generated input, its side files and what is known about it."""

    directory: Path
    mpistat: Path
    ldif: Path
    quotas: Path
    groups: Path
    lines: int
    seed: int
    date: str  # YYYY-MM-DD
    uncompressed_bytes: int
    compressed_bytes: int
    generate_seconds: float
    writer: str
    generator_version: int = GENERATOR_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("directory", "mpistat", "ldif", "quotas", "groups"):
            data[key] = str(data[key])
        return data


def dataset_dir(data_dir: Path, lines: int, seed: int) -> Path:
    return data_dir / f"n{lines}-s{seed}"


FORMATS = ("base64", "wrstat")


def ensure_dataset(
    data_dir: Path, lines: int, seed: int, force: bool = False, fmt: str = "base64"
) -> tuple[Dataset, bool]:
    """The dataset for (lines, seed) in ``fmt``: reused when complete, else generated.
    True when generated. A wrstat dataset is converted from the base64 one."""
    if fmt == "wrstat":
        base, generated = ensure_dataset(data_dir, lines, seed, force)
        directory = data_dir / f"{base.directory.name}-wrstat"
        reused = _load_dataset(directory) if not (force or generated) else None
        if reused is not None:
            return reused, False
        return to_wrstat(base, directory), True
    directory = dataset_dir(data_dir, lines, seed)
    if not force:
        reused = _load_dataset(directory)
        if reused is not None:
            return reused, False
    return generate(directory, lines, seed), True


def _load_dataset(directory: Path) -> Dataset | None:
    """The complete dataset in ``directory`` made by this generator version, if any."""
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("generator_version") == GENERATOR_VERSION:
                dataset = Dataset(
                    **{k: v for k, v in meta.items() if k in Dataset.__dataclass_fields__}
                )
                for key in ("directory", "mpistat", "ldif", "quotas", "groups"):
                    setattr(dataset, key, Path(getattr(dataset, key)))
                if all(
                    p.is_file()
                    for p in (dataset.mpistat, dataset.ldif, dataset.quotas, dataset.groups)
                ):
                    return dataset
        except (OSError, ValueError, TypeError):
            pass
    return None


# Path bytes a Go-quoted field holds as they are; any other byte needs go_quote.
_NEEDS_QUOTING = re.compile(rb"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def to_wrstat(base: Dataset, directory: Path) -> Dataset:
    """``base``'s records in the wrstat format, with its side files, in ``directory``."""
    started = time.perf_counter()
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "mpistat").mkdir(parents=True)
    for source in (base.ldif, base.quotas, base.groups):
        shutil.copyfile(source, directory / source.name)
    mpistat = directory / "mpistat" / base.mpistat.name
    partial = mpistat.with_name(mpistat.name + ".part")
    needs_quoting, a2b = _NEEDS_QUOTING.search, binascii.a2b_base64
    uncompressed = 0
    with (
        gzip_writer.open(base.mpistat, "rb") as source,
        gzip_writer.open(partial, "wb", compresslevel=1) as out,
    ):
        pending = b""
        while chunk := source.read(4 * 1024 * 1024):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            converted = []
            for line in lines:
                field, rest = line.split(b"\t", 1)
                path = a2b(field)
                quoted = go_quote(path) if needs_quoting(path) else b'"' + path + b'"'
                size = rest.split(b"\t", 1)[0]
                converted.append(b"%s\t%s\t%s\n" % (quoted, rest, size))
            data = b"".join(converted)
            uncompressed += len(data)
            out.write(data)
    os.utime(partial, (REFERENCE, REFERENCE))
    os.rename(partial, mpistat)
    dataset = dataclasses.replace(
        base,
        directory=directory,
        mpistat=mpistat,
        ldif=directory / base.ldif.name,
        quotas=directory / base.quotas.name,
        groups=directory / base.groups.name,
        uncompressed_bytes=uncompressed,
        compressed_bytes=mpistat.stat().st_size,
        generate_seconds=round(time.perf_counter() - started, 2),
    )
    (directory / "meta.json").write_text(json.dumps(dataset.to_json(), indent=1))
    return dataset


# ----------------------------------------------------------------------------- groups


def _make_groups(rnd: random.Random) -> tuple[list[Group], list[str], dict[str, list[Group]]]:
    """About 200 groups: humgen project and team groups, other departments', unnamed."""
    gids = rnd.sample(range(1100, 32000), 200)
    used_names: set[str] = set()

    def project_name() -> str:
        while True:
            name = "".join(rnd.sample(SYLLABLES, rnd.choice((1, 2, 2, 3))))
            if rnd.random() < 0.3:
                name += str(rnd.randint(1, 99))
            if name not in used_names:
                used_names.add(name)
                return name

    groups: list[Group] = []
    kinds: dict[str, list[Group]] = {
        k: [] for k in ("project", "team", "tol", "vr", "casm", "other")
    }
    pis = [f"pi{i}" for i in range(len(SURNAMES))]
    it = iter(gids)
    for _ in range(45):
        kinds["project"].append(Group(next(it), project_name(), True))
    team_numbers = rnd.sample(range(100, 300), 25)
    for number in team_numbers:
        kinds["team"].append(Group(next(it), f"team{number}", True))
    for _ in range(30):
        kinds["tol"].append(Group(next(it), "tol-" + project_name(), False))
    for _ in range(30):
        kinds["vr"].append(Group(next(it), "vr-" + project_name(), False))
    for _ in range(20):
        kinds["casm"].append(Group(next(it), "casm-" + project_name(), False))
    for _ in range(50):
        kinds["other"].append(
            Group(
                next(it), rnd.choice(("ssg-", "pathogen-", "cellgen-", "")) + project_name(), False
            )
        )
    for group_list in kinds.values():
        groups.extend(group_list)
    for group in kinds["project"] + kinds["team"]:
        roll = rnd.random()
        if roll < 0.85:
            group.pi = rnd.choice(pis)
        elif roll < 0.93:
            group.pi = "gone"  # the PI's entry no longer exists: PI is NULL
        # else: a humgen group without a PI attribute
    for group in rnd.sample(kinds["other"] + kinds["casm"], 10):
        group.named = False  # the report shows it by number
    return groups, pis, kinds


def _user_names(rnd: random.Random, count: int) -> list[bytes]:
    names: set[bytes] = set()
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(names) < count:
        names.add(f"{rnd.choice(letters)}{rnd.choice(letters)}{rnd.randint(1, 40)}".encode())
    return sorted(names)


def _make_units(
    rnd: random.Random, kinds: dict[str, list[Group]], users: list[bytes]
) -> list[Unit]:
    units: list[Unit] = []
    root = VOLUME_ROOT
    all_groups = [g for gs in kinds.values() for g in gs]

    def add(path: bytes, group: Group, inside: bool, users_tree: bool = False) -> None:
        units.append(Unit(path, group.gid, rnd.lognormvariate(0, 1.5), users_tree, inside))

    projects = kinds["project"]
    for i in range(80):
        group = projects[i] if i < len(projects) else rnd.choice(projects)
        name = group.name if i < len(projects) else f"{group.name}-{i}"
        add(root + b"/humgen/projects/" + name.encode(), group, True, rnd.random() < 0.4)
    for group in kinds["team"]:
        add(root + b"/humgen/teams/" + group.name.encode(), group, True, rnd.random() < 0.2)
    for i in range(20):
        group = rnd.choice(projects + kinds["team"])
        add(root + b"/humgen/hgi/projects/" + f"{group.name}{i}".encode(), group, False)
    for group in rnd.sample(kinds["team"], 15):
        add(root + b"/humgen/old-team-data/" + group.name.encode(), group, False)
    for group in rnd.sample(projects, 5):
        add(root + b"/humgen/projects_old/" + group.name.encode(), group, False)
    for group in kinds["tol"]:
        add(root + b"/tol/projects/" + group.name[4:].encode(), group, False, rnd.random() < 0.2)
    for group in kinds["vr"]:
        add(root + b"/vr/projects/" + group.name[3:].encode(), group, False)
    for group in kinds["casm"]:
        add(
            root + b"/casm/team" + str(rnd.randint(1, 9)).encode() + b"/" + group.name[5:].encode(),
            group,
            False,
        )
    for group in kinds["other"][:25]:
        add(root + b"/sciops/" + group.name.encode(), group, False)
    for group in kinds["other"][25:30]:
        add(root + b"/references/" + group.name.encode(), group, False)
    for user in rnd.sample(users, 60):
        add(root + b"/users/" + user, rnd.choice(all_groups), False)
    return units


def _allocate(units: list[Unit], budget: int) -> None:
    """Share the lines between units: INSIDE_FRACTION inside the roots, the rest outside."""
    for inside, share in ((True, INSIDE_FRACTION), (False, 1 - INSIDE_FRACTION)):
        chosen = [u for u in units if u.inside is inside]
        total = sum(u.weight for u in chosen)
        for unit in chosen:
            unit.lines = int(budget * share * unit.weight / total)
    # Rounding: the remainder goes to the largest unit.
    max(units, key=lambda u: u.lines).lines += budget - sum(u.lines for u in units)


# ----------------------------------------------------------------------------- records


class _Draws:
    """Per-record random columns, drawn with numpy in batches and read as Python lists."""

    BATCH = 1 << 17

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        probs = np.array([k[1] for k in FILE_KINDS])
        self.cum = np.cumsum(probs / probs.sum())
        self.log_median = np.log(np.array([k[2] for k in FILE_KINDS]))

    def batch(self) -> tuple[list[float], list[int], list[int], list[int], list[int], list[int]]:
        rng, n = self.rng, self.BATCH
        roll = rng.random(n)
        kind = np.searchsorted(self.cum, rng.random(n), side="right")
        kind = np.minimum(kind, len(FILE_KINDS) - 1)
        size = np.exp(rng.normal(self.log_median[kind], SIZE_SIGMA))
        size = np.minimum(size, MAX_SIZE).astype(np.int64)
        size[rng.random(n) < EMPTY_FRACTION] = 0
        # Ages: log-normal around 200 days, up to 15 years.
        age = np.minimum(
            np.exp(rng.normal(math.log(200 * 86400), 1.3, n)), 15 * 365 * 86400
        ).astype(np.int64)
        mtime = REFERENCE - age
        atime = mtime + (age * rng.random(n)).astype(np.int64)
        ctime = mtime + rng.integers(0, 3600, n)
        return (
            roll.tolist(),
            kind.tolist(),
            size.tolist(),
            mtime.tolist(),
            atime.tolist(),
            ctime.tolist(),
        )


def _write_records(
    out: Any,
    units: list[Unit],
    total_lines: int,
    seed: int,
    users: list[bytes],
    gid_pool: list[int],
    expected: dict[int, int],
) -> int:
    """Write exactly ``total_lines`` records; returns the uncompressed byte count.

    ``expected`` receives each gid's Used bytes as the spec defines them (every record
    once, a multi-link inode once, nlink 0 as 0), for checking the report's output.
    """
    rnd = random.Random(seed * 7919 + 1)
    draws = _Draws(np.random.default_rng(seed))
    b64 = binascii.b2a_base64
    line_fmt = BASE64_LINE
    dev = DEV
    heappush, heappop = heapq.heappush, heapq.heappop
    exts = [k[0] for k in FILE_KINDS]
    user_uid = {name: FIRST_UID + i for i, name in enumerate(users)}
    uids = list(user_uid.values())
    own_groups = {uid: rnd.sample(gid_pool, USER_GROUPS) for uid in uids}

    written = 0
    lineno = 0  # records written so far
    inode = FIRST_INODE
    out_lines: list[bytes] = []
    flush_at = 1 << 16
    pending: list[tuple[int, int, tuple[int, int, int, int, int, int, int, int], bytes, bytes]] = []
    link_seq = 0
    expected_get = expected.get

    roll, kind, size, mtime, atime, ctime = draws.batch()
    j = 0
    batch_len = len(roll)

    def emit_dir(path: bytes, uid: int, gid: int) -> None:
        nonlocal lineno, inode
        age = int(rnd.expovariate(1 / (300 * 86400)))
        when = REFERENCE - age
        size = 4096 * rnd.choice((1, 1, 1, 2, 4))
        # A directory's nlink is 2 + its subdirectories: more than 1, but never a hard link.
        nlink = rnd.randint(2, 12)
        out_lines.append(
            line_fmt
            % (b64(path, newline=False), size, uid, gid, when, when, when, b"d", inode, nlink, dev)
        )
        expected[gid] = expected_get(gid, 0) + size
        inode += 1
        lineno += 1

    def emit_link(dirpath: bytes) -> None:
        nonlocal lineno
        _, seq, fields, name, origin = heappop(pending)
        link_name = name if origin != dirpath else b"link%d_%s" % (seq, name)
        s, u, g, a, m, c, ino, nl = fields
        out_lines.append(
            line_fmt
            % (b64(dirpath + b"/" + link_name, newline=False), s, u, g, a, m, c, b"f", ino, nl, dev)
        )
        lineno += 1

    def flush() -> None:
        nonlocal written, out_lines
        data = b"".join(out_lines)
        out.write(data)
        written += len(data)
        out_lines = []

    # The volume root, then the area directories above the units (parents before children).
    emit_dir(VOLUME_ROOT, 0, 0)
    areas: set[bytes] = set()
    for unit in units:
        parts = unit.path.split(b"/")
        for depth in range(4, len(parts)):
            areas.add(b"/".join(parts[:depth]))
    for area in sorted(areas):
        emit_dir(area, 0, rnd.choice(gid_pool))

    order = [u for u in units if u.lines > 0]
    rnd.shuffle(order)  # a parallel crawler interleaves the areas
    dirpath = VOLUME_ROOT
    for index, unit in enumerate(order):
        if lineno + len(pending) >= total_lines:
            break
        # The last unit takes whatever is left, so the total is exact.
        committed = lineno + len(pending)
        unit_end = (
            total_lines if index == len(order) - 1 else min(total_lines, committed + unit.lines)
        )
        owner = rnd.choice(uids)
        # The people who write in a project or team directory are a few of its group's
        # members, not anyone: the (group, user) pairs grow with teams, not with lines.
        team = [owner, *rnd.sample(uids, rnd.randint(2, TEAM_MEMBERS))]
        uid, gid = owner, unit.gid
        emit_dir(unit.path, uid, gid)
        stack: list[bytes] = [unit.path]
        seen: set[bytes] = {unit.path}
        counter = 0
        while lineno + len(pending) < unit_end:
            # A new directory: deeper, a sibling, or back up the tree.
            move = rnd.random()
            if move < 0.45 or len(stack) == 1:
                parent_depth = len(stack)
            elif move < 0.8:
                parent_depth = len(stack) - 1
            else:
                parent_depth = rnd.randint(1, len(stack) - 1)
            if parent_depth > 7:
                parent_depth = rnd.randint(1, 4)
            del stack[parent_depth:]
            parent = stack[-1]
            base = parent.rsplit(b"/", 1)[1]
            counter += 1
            if base == b"users":
                name = rnd.choice(users)
            elif parent_depth == 1:
                name = b"users" if unit.users and rnd.random() < 0.3 else rnd.choice(TOP_DIR_NAMES)
            elif rnd.random() < ODD_NAME_FRACTION * 4:
                name = rnd.choice(ODD_DIR_NAMES)
            else:
                name = b"%s_%d" % (rnd.choice(DIR_WORDS), counter)
            dirpath = parent + b"/" + name
            if dirpath in seen:
                dirpath = b"%s_%d" % (dirpath, counter)
            seen.add(dirpath)
            stack.append(dirpath)
            if base == b"users":
                uid = user_uid[name]
            else:
                uid = owner if rnd.random() < 0.7 else rnd.choice(team)
            # Another group than the directory's is one of the writer's own groups.
            gid = unit.gid if rnd.random() >= OTHER_GID_FRACTION else rnd.choice(own_groups[uid])
            emit_dir(dirpath, uid, gid)
            # Other names of hard links that are due now land in this directory.
            while pending and pending[0][0] <= lineno:
                emit_link(dirpath)
            # Files in it: geometric, mean (1 - DIR_FRACTION) / DIR_FRACTION.
            nfiles = int(rnd.expovariate(DIR_FRACTION / (1 - DIR_FRACTION)) + 0.5)
            room = unit_end - lineno - len(pending)
            if nfiles > room:
                nfiles = max(room, 0)
            gid_dir = gid
            prefix = dirpath + b"/" + rnd.choice(FILE_STEMS)
            for i in range(nfiles):
                if j == batch_len:
                    roll, kind, size, mtime, atime, ctime = draws.batch()
                    j = 0
                r = roll[j]
                nlink = 1
                ftype = b"f"
                sz, mt, at, ct = size[j], mtime[j], atime[j], ctime[j]
                if r < RARE_START:
                    path = b"%s_%d%s" % (prefix, i, exts[kind[j]])
                elif r >= SYMLINK_START:
                    path = b"%s_%d.link" % (prefix, i)
                    ftype = b"l"
                    sz = 40 + (i & 63)
                else:
                    path = b"%s_%d%s" % (prefix, i, exts[kind[j]])
                    x = r - RARE_START
                    if x < HARDLINK_FRACTION:
                        want = 2 if x < 0.8 * HARDLINK_FRACTION else 3
                        if lineno + len(pending) + want + (nfiles - 1 - i) <= unit_end:
                            nlink = want
                    elif x < T_NLINK0:
                        nlink = 0
                    elif x < T_FUTURE:
                        mt = at = ct = REFERENCE + rnd.randint(1, 400 * 86400)
                    elif x < T_ODD:
                        path = dirpath + b"/" + (rnd.choice(ODD_FILE_NAMES) % i)
                    elif x < T_SPECIAL:
                        ftype = rnd.choice(SPECIAL_TYPES)
                        sz = 0
                if r >= OTHER_GID_FRACTION:
                    gid = gid_dir
                else:  # one of the writer's own groups, as for a directory
                    gid = own_groups[uid][int(r * 1e6) % USER_GROUPS]
                out_lines.append(
                    line_fmt
                    % (b64(path, newline=False), sz, uid, gid, at, mt, ct, ftype, inode, nlink, dev)
                )
                expected[gid] = expected_get(gid, 0) + (sz if nlink else 0)
                if nlink > 1:
                    name = path.rsplit(b"/", 1)[1]
                    for _ in range(nlink - 1):
                        link_seq += 1
                        if rnd.random() < FAR_LINK_FRACTION:
                            due = lineno + rnd.randint(1, max(1, total_lines - lineno))
                        else:
                            due = lineno + rnd.randint(1, 3000)
                        heappush(
                            pending,
                            (
                                due,
                                link_seq,
                                (sz, uid, gid, at, mt, ct, inode, nlink),
                                name,
                                dirpath,
                            ),
                        )
                inode += 1
                lineno += 1
                j += 1
            if len(out_lines) >= flush_at:
                flush()
    # Names of hard links due after the end: at the end of the file.
    while pending:
        emit_link(dirpath)
    flush()
    if lineno != total_lines or pending:
        raise AssertionError(
            f"generator bug: wrote {lineno} records for {total_lines}, {len(pending)} pending"
        )
    return written


# ----------------------------------------------------------------------------- side files


def _ldif(groups: list[Group], pis: list[str], users: list[bytes]) -> str:
    base = "dc=example,dc=org"
    out = [
        "# Generated by bench/generate.py: the benchmark's directory (offline LDIF mode).",
        "version: 1",
        "",
        f"dn: {base}",
        "objectClass: dcObject",
        "objectClass: organization",
        "dc: example",
        "o: Example Genome Institute",
        "",
        f"dn: ou=group,{base}",
        "objectClass: organizationalUnit",
        "ou: group",
        "",
        f"dn: ou=people,{base}",
        "objectClass: organizationalUnit",
        "ou: people",
        "",
    ]
    for uid, surname in zip(pis, SURNAMES, strict=True):
        out += [
            f"dn: uid={uid},ou=people,{base}",
            "objectClass: inetOrgPerson",
            f"uid: {uid}",
            f"cn: Dr {surname}",
            f"sn: {surname}",
            "",
        ]
    # Every user a people entry, so that the per-user table's name look-ups are timed.
    for number, name in enumerate(users, start=FIRST_UID):
        if name.decode() in pis:
            continue  # a drawn name that is a PI's uid: shown by number
        out += [
            f"dn: uid={name.decode()},ou=people,{base}",
            "objectClass: inetOrgPerson",
            "objectClass: posixAccount",
            f"uid: {name.decode()}",
            f"cn: {name.decode()}",
            f"sn: {name.decode()}",
            f"uidNumber: {number}",
            "",
        ]
    for group in sorted(groups, key=lambda g: g.gid):
        if not group.named:
            continue
        out += [f"dn: cn={group.name},ou=group,{base}", "objectClass: posixGroup"]
        if group.humgen:
            out.append("objectClass: sangerHumgenProjectGroup")
        out += [f"cn: {group.name}", f"gidNumber: {group.gid}"]
        if group.humgen and group.pi:
            out.append(f"sangerProjectPI: uid={group.pi},ou=people,{base}")
        out.append("")
    return "\n".join(out)


def _quotas(groups: list[Group], rnd: random.Random) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for group in groups:
        if not group.named:
            continue
        limit_kb = rnd.choice((0, 10, 50, 100, 200, 500)) * 1024**3
        used_kb = int(limit_kb * rnd.random()) if limit_kb else rnd.randint(0, 50 * 1024**3)
        table[group.name] = {"used_kb": used_kb, "limit_kb": limit_kb}
    for name in rnd.sample(sorted(table), 2):
        table[name] = {"fail": "lfs quota: quotactl failed: Operation not permitted"}
    return table


# ----------------------------------------------------------------------------- main


def generate(directory: Path, lines: int, seed: int) -> Dataset:
    if lines < 1000:
        raise ValueError("--lines must be at least 1000")
    started = time.perf_counter()
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "mpistat").mkdir(parents=True)
    rnd = random.Random(seed)
    groups, pis, kinds = _make_groups(rnd)
    users = _user_names(rnd, 300)
    units = _make_units(rnd, kinds, users)
    # Lines left after the root and the area directories (about 20 of them).
    _allocate(units, lines - 64)
    # gids of records not owned by their unit's group: every gid, humgen twice as likely.
    gid_pool = [g.gid for g in groups] + [g.gid for g in groups if g.humgen]
    rnd.shuffle(gid_pool)

    mpistat = directory / "mpistat" / f"{DATE.strftime('%Y%m%d')}_{VOLUME}.dat.gz"
    partial = mpistat.with_name(mpistat.name + ".part")
    expected: dict[int, int] = {}
    with gzip_writer.open(partial, "wb", compresslevel=1) as out:
        uncompressed = _write_records(out, units, lines, seed, users, gid_pool, expected)
    os.utime(partial, (REFERENCE, REFERENCE))
    os.rename(partial, mpistat)

    ldif = directory / "directory.ldif"
    ldif.write_text(_ldif(groups, pis, users), encoding="utf-8")
    quotas = directory / "quotas.json"
    quotas.write_text(json.dumps(_quotas(groups, rnd), indent=1, sort_keys=True))
    groups_path = directory / "groups.json"
    groups_path.write_text(
        json.dumps(
            {
                "groups": {
                    str(g.gid): {"name": g.name if g.named else None, "humgen": g.humgen}
                    for g in groups
                },
                "roots": list(INSPECTOR_ROOTS),
                "special_prefixes": list(SPECIAL_PREFIXES),
                "expected_used": {str(gid): used for gid, used in sorted(expected.items())},
            },
            indent=1,
        )
    )
    dataset = Dataset(
        directory=directory,
        mpistat=mpistat,
        ldif=ldif,
        quotas=quotas,
        groups=groups_path,
        lines=lines,
        seed=seed,
        date=DATE.isoformat(),
        uncompressed_bytes=uncompressed,
        compressed_bytes=mpistat.stat().st_size,
        generate_seconds=round(time.perf_counter() - started, 2),
        writer=WRITER,
    )
    (directory / "meta.json").write_text(json.dumps(dataset.to_json(), indent=1))
    return dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the benchmark's synthetic mpistat input."
    )
    parser.add_argument("--lines", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent / "data")
    parser.add_argument(
        "--force", action="store_true", help="regenerate even if a matching dataset exists"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="base64",
        help="input format: base64 (mpistat) or wrstat (default %(default)s)",
    )
    args = parser.parse_args(argv)
    dataset, generated = ensure_dataset(
        args.data_dir, args.lines, args.seed, force=args.force, fmt=args.format
    )
    verb = "generated" if generated else "reusing"
    print(
        f"{verb} {dataset.mpistat}: {dataset.lines} lines, {dataset.uncompressed_bytes / 1e6:.1f} MB "
        f"uncompressed, {dataset.compressed_bytes / 1e6:.1f} MB gzip ({dataset.generate_seconds} s to generate)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
