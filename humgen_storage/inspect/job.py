"""inspect: per-project directory inventory of the inspector roots (Spaceman).

Without PATH every root of every inspector volume is scanned (volumes side by side
in a pool; within a volume, one process decompresses and the workers left over parse
its blocks, see mpistat.parallel) in the newest complete set of the inspector
volumes, or the set of --date.
With PATH (which need not exist here) the path is mapped onto the configured root
patterns and only rows at or below it are printed, from its volume's newest file; a
PATH under no root, but on a configured volume, is itself taken as the root.
--tosql also merges the table into the Spaceman tables, keeping people's decisions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from humgen_storage.config import Config
from humgen_storage.db import open_database
from humgen_storage.directory import GroupDirectory, load_directory
from humgen_storage.errors import ConfigError, DatabaseError, DirectoryError, JobFailed, UsageError
from humgen_storage.inspect.aggregate import (
    DEFAULT_DEPTH,
    InspectorRow,
    InspectorRows,
    PathSelection,
    ProjectInspector,
    select_path,
)
from humgen_storage.inspect.spaceman import SpacemanRow, merge_into_spaceman
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.paths import display_name
from humgen_storage.mpistat.reader import InputFile, MpistatReader
from humgen_storage.run.blocks import aggregate_file
from humgen_storage.run.inputs import InputSet, add_input_arguments, find_set
from humgen_storage.run.locking import job_lock, lock_dir
from humgen_storage.run.staging import load_inspection, save_inspection
from humgen_storage.run.volumes import (
    default_workers,
    plan_workers,
    report_progress,
    run_per_volume,
)
from humgen_storage.tsv import tsv_line, write_tsv

log = logging.getLogger(__name__)

TIB = 2**40
TOTAL_DIRECTORY = "*TOTAL*"
# The class columns of the table, by their configured names, in output order.
CLASS_COLUMNS = ("BAM", "CRAM", "VCF", "PEDBED")

# The columns both tables share, between their own first and last ones (spec section 5).
_MEASURE_COLUMNS = ("Total", "BAM", "CRAM", "VCF", "PED/BED", "Files", "Last Modified (days)")
PROJECT_HEADER = (
    "Project",
    "Directory",
    *_MEASURE_COLUMNS,
    "PI",
    "Unix Group",
    "Volume",
    "Project Total",
)
GENERIC_HEADER = ("Directory", *_MEASURE_COLUMNS, "Total (bytes)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="only rows at or below this directory (mapped onto the configured roots, "
        "or itself the root when under none; need not exist on this host)",
    )
    parser.add_argument(
        "--depth",
        type=_depth,
        default=DEFAULT_DEPTH,
        help="directory levels below a root to report (default %(default)s; "
        "one more below a users directory)",
    )
    parser.add_argument(
        "--generic",
        action="store_true",
        help="whole paths and human-readable sizes, with Total (bytes)",
    )
    parser.add_argument("--noheader", action="store_true", help="do not print the header line")
    parser.add_argument(
        "--tosql",
        action="store_true",
        help="also merge the rows into the spaceman table (not with PATH)",
    )
    add_input_arguments(parser, files=False)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--stage-only",
        action="store_true",
        help="aggregate one volume (needs --volume) into the staging area; write nothing else",
    )
    mode.add_argument(
        "--finalise",
        action="store_true",
        help="publish every staged volume of --date as `manage inspect` does (spaceman + TSV)",
    )
    parser.add_argument("--volume", metavar="V", help="with --stage-only: the volume number")


def _depth(text: str) -> int:
    try:
        depth = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if depth < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {depth}")
    return depth


# ------------------------------------------------------------------------ per volume


@dataclass(frozen=True)
class VolumeTask:
    """What a pool worker needs to inspect one volume (picklable)."""

    source: InputFile
    roots: tuple[str, ...]
    file_classes: tuple[tuple[str, str], ...]
    depth: int
    max_bad_fraction: float
    log_bad_lines: int
    only_under: tuple[bytes, ...] = ()
    block_workers: int = 1  # processes parsing this volume's blocks (mpistat.parallel)


@dataclass(frozen=True)
class VolumeInspection:
    volume: str
    # Sorted; as ``finish`` gives them (columns, see InspectorRows), or a selection of them.
    rows: Sequence[InspectorRow]


def inspect_volume(task: VolumeTask) -> VolumeInspection:
    """Read one volume's file and aggregate it (runs in a pool worker)."""
    vlog = volume_logger(__name__, task.source.volume)
    started = time.monotonic()
    with MpistatReader(
        task.source,
        max_bad_fraction=task.max_bad_fraction,
        log_bad_lines=task.log_bad_lines,
        on_progress=report_progress,
    ) as reader:
        vlog = volume_logger(__name__, reader.volume_name)  # as the reader's lines name it
        make_partial = partial(
            ProjectInspector,
            roots=task.roots,
            file_classes=task.file_classes,
            reference=reader.mtime,
            path_format=reader.format,
            depth=task.depth,
            only_under=task.only_under,
        )
        inspector = aggregate_file(reader, make_partial, workers=task.block_workers)
        # Undecodable paths are malformed lines too: logged (within the reader's
        # budget), then counted in the bad-fraction rule, which may end the volume.
        undecodable = inspector.undecodable
        if undecodable.count:
            budget = max(0, reader.log_bad_lines - reader.bad_lines)
            for line, reason in undecodable.examples[:budget]:
                vlog.warning("%s line %d: skipped a record: %s", task.source.path, line, reason)
            reader.record_bad_lines([], total=undecodable.count)
            reader.check_bad_fraction()
    rows = inspector.finish()
    if not rows:
        vlog.warning(
            "%s: no records under the roots %s; check [inspector] %s",
            task.source.path,
            " ".join(task.roots),
            task.source.volume,
        )
    vlog.info(
        "%s: %d lines, %d records under the roots, %d rows in %.1f s",
        task.source.path,
        reader.lines,
        inspector.records,
        len(rows),
        time.monotonic() - started,
    )
    return VolumeInspection(task.source.volume, rows)


# ------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class TableRow:
    """One printed row: a volume's aggregate with its group's names resolved."""

    volume: str
    row: InspectorRow
    pi: str | None
    unix_group: str | None

    @property
    def project(self) -> str:
        return display_name(self.row.project)

    @property
    def directory(self) -> str:
        return display_name(self.row.directory) if self.row.directory else TOTAL_DIRECTORY

    def class_bytes(self) -> list[int]:
        return [self.row.class_bytes.get(name, 0) for name in CLASS_COLUMNS]

    def project_values(self) -> list[object]:
        sizes = [self.row.total_bytes, *self.class_bytes()]
        return [
            self.project,
            self.directory,
            *(tib(size) for size in sizes),
            self.row.files,
            self.row.last_modified_days,
            self.pi,
            self.unix_group,
            self.volume,
            tib(self.row.project_total_bytes),
        ]

    def generic_values(self) -> list[object]:
        sizes = [self.row.total_bytes, *self.class_bytes()]
        return [
            display_name(b"/".join(self.row.short_path)),
            *(human_size(size) for size in sizes),
            self.row.files,
            self.row.last_modified_days,
            self.row.total_bytes,
        ]

    def spaceman_row(self) -> SpacemanRow:
        bam, cram, vcf, pedbed = (tib(size) for size in self.class_bytes())
        return SpacemanRow(
            project=self.project,
            directory=self.directory,
            volume=self.volume,
            files=self.row.files,
            total=tib(self.row.total_bytes),
            bam=bam,
            cram=cram,
            vcf=vcf,
            pedbed=pedbed,
            last_modified_days=self.row.last_modified_days,
            pi=self.pi,
            project_total=tib(self.row.project_total_bytes),
            unix_group=self.unix_group,
        )


def tib(size: int) -> float:
    return round(size / TIB, 3)


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """Bytes below 1 KiB as an integer, else ``round(x, 2)`` in the largest unit under 1024."""
    if size < 1024:
        return str(size)
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        shown = round(value, 2)
        if shown < 1024 or unit == _UNITS[-1]:
            return f"{shown} {unit}"
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Table:
    """Every volume's rows (in run order, already sorted within a volume), with the PI
    and Unix Group of each row's gid when there is a directory.

    Its ``TableRow``s are made as they are read, and may be read more than once: the
    volumes' rows stay in their compact form (``InspectorRows``) meanwhile.
    """

    inspections: Sequence[VolumeInspection]
    directory: GroupDirectory | None

    def __iter__(self) -> Iterator[TableRow]:
        directory = self.directory
        for inspection in self.inspections:
            for row in inspection.rows:
                pi = unix_group = None
                if directory is not None and row.gid is not None:
                    group = directory.lookup(row.gid)
                    pi, unix_group = group.pi, group.name
                yield TableRow(inspection.volume, row, pi, unix_group)


def build_table(
    inspections: Sequence[VolumeInspection], config: Config, with_names: bool = True
) -> Table:
    """The table of ``inspections``, with the groups' names from the directory when
    ``with_names``."""
    directory = None
    if with_names and any(inspection.rows for inspection in inspections):
        try:
            directory = load_directory(config.ldap)
        except DirectoryError as exc:
            raise JobFailed("cannot load the group directory", [str(exc)]) from None
    return Table(inspections, directory)


def write_table(
    table: Iterable[TableRow], out: IO[str], generic: bool = False, header: bool = True
) -> None:
    if header:
        out.write(tsv_line(GENERIC_HEADER if generic else PROJECT_HEADER))
    for row in table:
        out.write(tsv_line(row.generic_values() if generic else row.project_values()))


# ------------------------------------------------------------------------ running


def _roots_by_volume(config: Config, volumes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    roots = {}
    for volume in volumes:
        patterns = config.inspector.roots.get(volume)
        if not patterns:
            raise ConfigError(
                f"{config.source}: [inspector] {volume}: no root patterns for inspector volume {volume}"
            )
        roots[volume] = patterns
    return roots


def _check_class_names(config: Config) -> None:
    unused = [name for name, _ in config.inspector.file_classes if name not in CLASS_COLUMNS]
    if unused:
        log.warning(
            "[file_classes] %s: not a column of the inspector table (%s); ignored",
            ", ".join(unused),
            ", ".join(CLASS_COLUMNS),
        )


def inspect_set(
    config: Config,
    input_set: InputSet,
    depth: int,
    only_under: tuple[bytes, ...] = (),
    workers: int | None = None,
    roots: Mapping[str, tuple[str, ...]] | None = None,
) -> list[VolumeInspection]:
    """Aggregate every file of the set: volumes side by side in a pool, each read by
    one process and parsed by its share of the workers (``mpistat.parallel``).
    ``roots``: the root patterns per volume, when not the configured ones."""
    if roots is None:
        roots = _roots_by_volume(config, input_set.volumes)
    _check_class_names(config)
    at_once, block_workers = plan_workers(
        default_workers(workers or config.workers), len(input_set.files)
    )
    tasks = [
        VolumeTask(
            source=source,
            roots=roots[source.volume],
            file_classes=config.inspector.file_classes,
            depth=depth,
            max_bad_fraction=config.input.max_bad_fraction,
            log_bad_lines=config.input.log_bad_lines,
            only_under=only_under,
            block_workers=block_workers,
        )
        for source in input_set.files
    ]
    total_bytes = sum(_size(source.path) for source in input_set.files)
    log.info(
        "inspect %s: volumes %s, depth %d",
        input_set.date.isoformat(),
        " ".join(input_set.volumes),
        depth,
    )
    return run_per_volume(
        inspect_volume,
        tasks,
        [source.volume for source in input_set.files],
        at_once,
        total_bytes,
        "inspect",
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader reports the missing file as the volume's failure


def save_to_spaceman(config: Config, table: Iterable[TableRow], volumes: Sequence[str]) -> None:
    """Merge the table into spaceman in one transaction (see sinks.spaceman)."""
    try:
        with open_database(config.database, base_dir=config.source.parent) as database:
            counts = merge_into_spaceman(database, [row.spaceman_row() for row in table], volumes)
            where = database.description
    except DatabaseError as exc:
        raise JobFailed("cannot write the spaceman table", [str(exc)]) from None
    log.info(
        "spaceman in %s: %d rows updated, %d new, %d gone (volumes %s)",
        where,
        counts.updated,
        counts.inserted,
        counts.deleted,
        " ".join(volumes),
    )


def normalise_path(text: str) -> bytes:
    """Absolute, without '.', '..', repeated or trailing slashes; not resolved (it need not exist)."""
    return os.fsencode(os.path.normpath(os.path.abspath(text)))


def run(args: argparse.Namespace, config: Config) -> int:
    if args.tosql and args.path is not None:
        raise UsageError("--tosql writes whole volumes; it cannot be used with PATH")
    if (args.stage_only or args.finalise) and (args.path is not None or args.tosql or args.generic):
        raise UsageError("--stage-only and --finalise take no PATH, --tosql or --generic")
    if args.stage_only != bool(args.volume):
        raise UsageError("--stage-only and --volume V go together")
    if args.finalise and args.date is None:
        raise UsageError("--finalise needs --date YYYY-MM-DD")
    if args.stage_only:
        return stage_only(config, args.volume, args.date)
    if args.finalise:
        return _with_lock(config, lambda: finalise_staged(config, args.date))
    volumes = config.volumes.inspector
    if not volumes:
        raise ConfigError(f"{config.source}: [volumes] inspector: no inspector volumes configured")
    if args.path is not None:
        return _run_path(args, config, volumes)
    input_set = find_set(config, volumes, args.date, "inspector volumes")

    def inspect_and_print() -> int:
        inspections = inspect_set(config, input_set, args.depth, workers=args.workers)
        table = build_table(inspections, config, with_names=not args.generic or args.tosql)
        if args.tosql:
            save_to_spaceman(config, table, input_set.volumes)
        write_table(table, sys.stdout, generic=args.generic, header=not args.noheader)
        sys.stdout.flush()
        return 0

    # Only a run that writes spaceman needs the job's lock.
    return _with_lock(config, inspect_and_print) if args.tosql else inspect_and_print()


def _run_path(args: argparse.Namespace, config: Config, volumes: Sequence[str]) -> int:
    roots = _roots_by_volume(config, volumes)
    path = normalise_path(args.path)
    selection: PathSelection | None = select_path(path, roots)
    if selection is None:
        raise UsageError(
            f"{args.path} is not on any inspector volume ("
            + "; ".join(f"{volume}: {' '.join(patterns)}" for volume, patterns in roots.items())
            + ")"
        )
    log.info(
        "%s: volume %s, short path %s%s",
        args.path,
        selection.volume,
        display_name(b"/".join(selection.short_prefix)) or "(the roots)",
        " (under no configured root: the path is the root)" if selection.path_root else "",
    )
    input_set = find_set(config, [selection.volume], args.date, "inspector volumes")
    inspections = inspect_set(
        config,
        input_set,
        args.depth,
        only_under=selection.project,
        workers=args.workers,
        roots={selection.volume: selection.roots(roots[selection.volume])},
    )
    selected = [
        VolumeInspection(
            inspection.volume, [row for row in inspection.rows if selection.selects(row)]
        )
        for inspection in inspections
    ]
    if not any(inspection.rows for inspection in selected):
        if selection.path_root is not None:  # its own root row is there whenever it has records
            log.warning("no records at or below %s on volume %s", args.path, selection.volume)
        else:
            log.warning(
                "no rows at or below %s at depth %d (a deeper --depth may show it)",
                args.path,
                args.depth,
            )
    table = build_table(selected, config, with_names=not args.generic)
    write_table(table, sys.stdout, generic=args.generic, header=not args.noheader)
    sys.stdout.flush()
    return 0


# ------------------------------------------------------------------------ the manager's entry


def done_marker(config: Config, day: dt.date) -> Path:
    """The TSV whose presence tells the manager the inspector ran for ``day``."""
    return config.paths.output_files_dir / f"inspector-{day:%Y%m%d}.tsv"


def run_managed(config: Config, input_set: InputSet) -> int:
    """``inspect --tosql`` on ``input_set`` (the manager holds the lock)."""
    inspections = inspect_set(config, input_set, DEFAULT_DEPTH)
    return publish(config, input_set.date, inspections, input_set.volumes)


def publish(
    config: Config, day: dt.date, inspections: list[VolumeInspection], volumes: Sequence[str]
) -> int:
    """Merge into spaceman, print the table, then write the done-marker TSV (after the commit)."""
    table = build_table(inspections, config)
    save_to_spaceman(config, table, volumes)
    write_table(table, sys.stdout)
    sys.stdout.flush()
    marker = done_marker(config, day)
    write_tsv(marker, PROJECT_HEADER, (row.project_values() for row in table))
    log.info("wrote %s", marker)
    return 0


# ---------------------------------------------------- per-volume jobs (LSF arrays)


def _staging_dir(config: Config, day: dt.date) -> Path:
    return config.paths.staging_root / f"inspect-{day.strftime('%Y%m%d')}"


def _with_lock(config: Config, work: Callable[[], int]) -> int:
    with job_lock(lock_dir(config), "inspect") as held_by:
        if held_by:
            log.info("another inspect is running (%s); nothing to do", held_by)
            return 0
        return work()


def _staged_volume(config: Config, day: dt.date, volume: str) -> Path:
    return _staging_dir(config, day) / f"volume-{volume}.db"


def stage_only(config: Config, volume: str, day: dt.date | None) -> int:
    """Aggregate one volume of the set into ``.staging/inspect-<date>/volume-<V>.db``."""
    input_set = find_set(config, config.volumes.inspector, day, "inspector volumes")
    sources = [f for f in input_set.files if f.volume == volume]
    if not sources:
        raise UsageError(f"volume {volume} is not in [volumes] inspector")
    (inspection,) = inspect_set(config, InputSet(input_set.date, tuple(sources)), DEFAULT_DEPTH)
    assert isinstance(inspection.rows, InspectorRows)  # whole volumes: as ``finish`` gives them
    save_inspection(_staged_volume(config, input_set.date, volume), volume, inspection.rows)
    log.info("staged inspector volume %s for %s", volume, input_set.date)
    return 0


def finalise_staged(config: Config, day: dt.date) -> int:
    """Publish every staged volume of ``day``; any volume not staged: exit 1, nothing written."""
    staging = _staging_dir(config, day)
    volumes = config.volumes.inspector
    missing = [v for v in volumes if not _staged_volume(config, day, v).is_file()]
    if missing:
        raise JobFailed(
            f"{len(missing)} of {len(volumes)} inspector volumes are not staged",
            [f"volume {v}: not staged in {staging}" for v in missing],
        )
    inspections = [
        VolumeInspection(*load_inspection(_staged_volume(config, day, v))) for v in volumes
    ]
    publish(config, day, inspections, volumes)
    shutil.rmtree(staging, ignore_errors=True)
    return 0
