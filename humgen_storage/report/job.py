"""report: per-group usage of every volume into lustre_usage and report-YYYYMMDD.tsv.

Flow (spec section 4): discard a crashed run's staging area; stop early if the date is
already loaded (rewriting a missing TSV); load the directory once into staging; a
pool stages each volume (aggregate, quota, archive look-up) into its own SQLite file;
the finaliser loads every row of the run in one transaction, then writes the TSV
(the done-marker) atomically. A failed volume means nothing is loaded.

For sites that spread volumes over LSF jobs: ``--stage-only --volume V`` stages one
volume; ``--finalise --date D`` loads every staged volume of that date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.db import Database, open_database
from humgen_storage.directory import GroupDirectory, load_directory
from humgen_storage.errors import JobFailed, UsageError
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.quota import QuotaLookups
from humgen_storage.report.aggregate import UsageAggregate, consumption
from humgen_storage.report.table import (
    has_rows_for,
    load_rows,
    report_tsv_path,
    rows_for,
    write_report_tsv,
)
from humgen_storage.run.blocks import aggregate_file
from humgen_storage.run.inputs import (
    InputSet,
    add_input_arguments,
    find_set,
    set_from_files,
)
from humgen_storage.run.locking import job_lock, lock_dir
from humgen_storage.run.staging import StagedVolume, Staging, UsageRow
from humgen_storage.run.volumes import (
    default_workers,
    plan_workers,
    report_progress,
    run_per_volume,
)
from humgen_storage.split.select import is_safe_file_name
from humgen_storage.units import days_since

log = logging.getLogger(__name__)

JOB = "report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument(
        "--force", action="store_true", help="replace the date's rows for the run's volumes"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--stage-only", action="store_true", help="stage one volume (needs --volume); load nothing"
    )
    mode.add_argument("--finalise", action="store_true", help="load every staged volume of --date")
    parser.add_argument(
        "--volume", metavar="V", help="with --stage-only: the volume number, e.g. 118"
    )


def done_marker(config: Config, day: dt.date) -> Path:
    return report_tsv_path(config.paths.output_files_dir, day)


def run(args: argparse.Namespace, config: Config) -> int:
    if args.stage_only and not args.volume:
        raise UsageError("--stage-only needs --volume V")
    if args.volume and not args.stage_only:
        raise UsageError("--volume goes with --stage-only")
    if args.finalise and not args.date:
        raise UsageError("--finalise needs --date YYYY-MM-DD")
    if args.files and (args.stage_only or args.finalise):
        raise UsageError("FILEs cannot be given with --stage-only or --finalise")
    workers = default_workers(args.workers or config.workers)
    if args.stage_only:
        # Array elements run side by side: each stages its own volume, without the job lock.
        return stage_only(config, args.volume, args.date, workers)
    with job_lock(lock_dir(config), JOB) as held_by:
        if held_by:
            log.info("another report is running (%s); nothing to do", held_by)
            return 0
        if args.finalise:
            return finalise_staged(config, args.date, args.force)
        if args.files:
            input_set = set_from_files(args.files, args.date)
        else:
            input_set = find_set(config, config.volumes.report, args.date, "report volumes")
        return run_report(config, input_set, force=args.force, workers=workers)


def run_managed(config: Config, input_set: InputSet) -> int:
    """The manager's entry point: the lock is already held."""
    return run_report(config, input_set, force=False, workers=default_workers(config.workers))


def _open_database(config: Config) -> Database:
    return open_database(config.database, base_dir=config.source.parent)


def _already_loaded(config: Config, db: Database, day: dt.date) -> bool:
    """True (after making sure the TSV exists) when the date already has rows."""
    if not has_rows_for(db, day):
        return False
    tsv = done_marker(config, day)
    if tsv.exists():
        log.info(
            "%s is already loaded and %s exists; nothing to do (use --force to reload)", day, tsv
        )
    else:
        write_report_tsv(tsv, rows_for(db, day))
        log.info("%s is already loaded; rewrote the missing %s from the database", day, tsv)
    return True


def run_report(config: Config, input_set: InputSet, force: bool, workers: int) -> int:
    day = input_set.date
    staging = Staging(config.paths.staging_root, day)
    staging.discard()  # whatever a crashed run left is not trusted
    # The connection is not held through the aggregation, which can take hours:
    # servers close idle connections (wait_timeout).
    with _open_database(config) as db:
        if not force and _already_loaded(config, db, day):
            return 0
    staging.save_directory(load_directory(config.ldap))
    at_once, block_workers = plan_workers(workers, len(input_set.files))
    run_per_volume(
        stage_volume,
        [StageTask(config, f, day, block_workers) for f in input_set.files],
        [f.volume for f in input_set.files],
        at_once,
        sum(_size(f.path) for f in input_set.files),
        f"report {day}",
    )
    with _open_database(config) as db:
        finalise(config, db, staging, input_set.volumes, replace=force)
    staging.discard()
    return 0


def stage_only(config: Config, volume: str, day: dt.date | None, workers: int) -> int:
    if day is None:
        day = find_set(config, config.volumes.report, None, "report volumes").date
    source = InputFile.expected(config.paths.mpistat_dir, day, volume)
    staging = Staging(config.paths.staging_root, day)
    if not staging.has_directory():
        staging.save_directory(load_directory(config.ldap))
    try:
        stage_volume(StageTask(config, source, day, workers))
    except Exception as exc:
        raise JobFailed(f"volume {volume} was not staged", [str(exc)]) from None
    log.info("staged volume %s for %s in %s", volume, day, staging.directory)
    return 0


def finalise_staged(config: Config, day: dt.date, force: bool) -> int:
    staging = Staging(config.paths.staging_root, day)
    with _open_database(config) as db:
        if not force and _already_loaded(config, db, day):
            return 0
        finalise(config, db, staging, config.volumes.report, replace=force)
    staging.discard()
    return 0


def finalise(
    config: Config, db: Database, staging: Staging, volumes: tuple[str, ...], replace: bool
) -> None:
    """Load every staged volume in one transaction, then write the TSV."""
    day = staging.day
    staged: list[StagedVolume] = []
    missing = []
    for volume in volumes:
        loaded = staging.load_volume(volume)
        if loaded is None:
            missing.append(f"volume {volume}: not staged in {staging.directory}")
        else:
            staged.append(loaded)
    if missing:
        raise JobFailed(f"{len(missing)} of {len(volumes)} volumes are not staged", missing)
    with db.transaction() as cursor:
        count = load_rows(
            cursor,
            day,
            [s.volume_name for s in staged],
            [row for s in staged for row in s.rows],
            replace=replace,
        )
    log.info("loaded %d rows for %s into %s", count, day, db.description)
    tsv = done_marker(config, day)
    write_report_tsv(tsv, rows_for(db, day))
    log.info("wrote %s", tsv)


# -- staging one volume (runs in a pool worker) ------------------------------------------


@dataclass(frozen=True)
class StageTask:
    config: Config
    source: InputFile
    day: dt.date  # the set's date (--date may differ from the date in the file's name)
    block_workers: int = 1  # processes parsing this volume's blocks


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def stage_volume(task: StageTask) -> str:
    """Aggregate one volume and stage its rows; returns the volume number."""
    config, source = task.config, task.source
    staging = Staging(config.paths.staging_root, task.day)
    groups = staging.load_directory()
    with (
        MpistatReader(
            source,
            max_bad_fraction=config.input.max_bad_fraction,
            log_bad_lines=config.input.log_bad_lines,
            on_progress=report_progress,
        ) as reader,
        QuotaLookups(f"/lustre/{reader.volume_name}", config.quota) as quotas,
    ):
        reference = math.floor(reader.mtime)
        aggregate = aggregate_file(
            reader,
            partial(UsageAggregate, reference),
            workers=task.block_workers,
            on_local_fold=_QuotaStarter(groups, quotas),
        )
        rows_out = usage_rows(
            config,
            groups,
            aggregate,
            reader.volume_name,
            reader.mtime,
            source.volume,
            task.day,
            quotas,
        )
        staging.save_volume(
            StagedVolume(
                volume=source.volume,
                volume_name=reader.volume_name,
                source=str(source.path),
                lines=reader.lines,
                bad_lines=reader.bad_lines,
                rows=tuple(rows_out),
            )
        )
    volume_logger(__name__, reader.volume_name).info(
        "staged %d groups from %d lines of %s", len(rows_out), reader.lines, source.path
    )
    return source.volume


@dataclass
class _QuotaStarter:
    """Starts the quota look-ups of the named groups as the aggregation meets them."""

    groups: GroupDirectory
    quotas: QuotaLookups
    seen: set[int] = field(default_factory=set)

    def __call__(self, aggregate: UsageAggregate) -> None:
        if len(aggregate.used) == len(self.seen):
            return  # the usual case: no new gid in this block
        new = aggregate.used.keys() - self.seen
        self.seen.update(new)
        names = (self.groups.lookup(gid).name for gid in sorted(new))
        self.quotas.want(name for name in names if name is not None)


def usage_rows(
    config: Config,
    groups: GroupDirectory,
    aggregate: UsageAggregate,
    volume_name: str,
    reference: float,
    volume: str,
    day: dt.date,
    quotas: QuotaLookups,
) -> list[UsageRow]:
    """The lustre_usage rows of one volume: totals joined with directory, quota and archive."""
    vlog = volume_logger(__name__, volume_name)
    totals = aggregate.totals()
    named = {gid: groups.lookup(gid) for gid in totals}
    for gid, group in sorted(named.items()):
        if group.name is None:
            vlog.warning("gid %d has no posixGroup in the directory; reported as %r", gid, str(gid))
    limits = quotas.results(sorted({g.name for g in named.values() if g.name is not None}))
    archive_dirs = config.archive.dirs.get(volume, ())
    rows = []
    for gid, total in sorted(totals.items()):
        group = named[gid]
        quota = limits.get(group.name) if group.name is not None else None
        archived = None
        if group.name is not None and total.used < config.archive.threshold_bytes:
            archived = find_archived(archive_dirs, group.name)
        rows.append(
            UsageRow(
                volume_name=volume_name,
                pi=group.pi if group.is_humgen else None,
                group=group.name if group.name is not None else str(gid),
                used=total.used,
                quota=quota,
                consumption=consumption(total.used, quota),
                last_modified=days_since(reference, total.newest_mtime),
                archived=archived,
                date=day.isoformat(),
                is_humgen=group.is_humgen,
            )
        )
    return rows


def find_archived(archive_dirs: tuple[str, ...], group: str) -> str | None:
    """The first ``<dir>/<group>`` holding an entry named ``.imirrored``."""
    # The group name becomes a path component: the splitter's check of group file
    # names (no '/', NUL or leading '.', not empty, short enough) applies as it is.
    if not is_safe_file_name(group):
        return None
    for directory in archive_dirs:
        candidate = os.path.join(directory.rstrip("/"), group)
        if os.path.lexists(os.path.join(candidate, ".imirrored")):
            return candidate
    return None
