"""report: per-group usage of every volume into lustre_usage and report-YYYYMMDD.tsv.

Flow (spec section 4, run by ``run.driver``): discard a crashed run's staging area;
stop early if the date is already loaded (rewriting a missing TSV); load the
directory once into staging; a pool stages each volume (aggregate, quota, archive
look-up) into its own SQLite file; the finaliser loads every row of the run in one
transaction, writing the TSV (the done-marker) in full under a temporary name before
the commit and renaming it after. A failed volume means nothing is loaded.

For sites that spread volumes over LSF jobs: ``--stage-only --volume V`` stages one
volume; ``--finalise --date D`` loads every staged volume of that date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from humgen_storage.config import ArchiveConfig, Config, QuotaConfig
from humgen_storage.db import Database, open_database
from humgen_storage.directory import GroupDirectory
from humgen_storage.errors import JobFailed, UsageError
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.files import InputFile
from humgen_storage.quota import QuotaLookups
from humgen_storage.report.aggregate import UsageAggregate
from humgen_storage.report.rows import usage_rows
from humgen_storage.report.table import (
    has_rows_for,
    load_rows,
    rows_for,
    rows_in,
    volume_names_for,
    write_report_lines,
    write_report_tsv,
)
from humgen_storage.run import driver, layout
from humgen_storage.run.aggregate import aggregate_file
from humgen_storage.run.atomic import prepared_text_file
from humgen_storage.run.inputs import InputSet, add_input_arguments
from humgen_storage.run.job import VolumePlan
from humgen_storage.run.record import current
from humgen_storage.run.registry import VOLUMES_KEYS
from humgen_storage.run.staging import (
    StagedVolume,
    StagingArea,
    load_usage,
    save_usage,
)
from humgen_storage.run.volumes import default_workers

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
    job = ReportJob(config, force=args.force)
    if args.stage_only:
        return driver.stage_only(config, job, args.volume, args.date, workers)
    if args.finalise:
        return driver.finalise(config, job, args.date)

    def run_on_inputs() -> int:
        input_set = driver.choose_inputs(config, JOB, args.files, args.date)
        # The date counts as loaded only for the volumes of this run.
        return driver.run_job(config, replace(job, volumes=input_set.volumes), input_set, workers)

    return driver.run_locked(config, JOB, run_on_inputs)


def run_managed(config: Config, input_set: InputSet) -> int:
    """The manager's entry point: the lock is already held."""
    return driver.run_job(config, ReportJob(config), input_set, default_workers(config.workers))


def done_marker(config: Config, day: dt.date) -> Path:
    return layout.report_tsv(config.paths.report_dir, day)


@dataclass(frozen=True)
class ReportJob:
    """The report in the run frame (``run.job.Job``)."""

    config: Config
    force: bool = False  # replace the date's rows for the run's volumes
    # The run's volumes, which the date must have rows for to count as loaded;
    # None: every configured report volume (the manager, --finalise).
    volumes: tuple[str, ...] | None = None

    name = JOB
    volumes_key = VOLUMES_KEYS[JOB]
    needs_directory = True
    stages_in_sqlite = True
    max_volumes_at_once = 1 << 30  # no ceiling beyond the processes given

    def done_marker(self, day: dt.date) -> Path:
        return done_marker(self.config, day)

    def already_done(self, day: dt.date) -> bool:
        """True (after making sure the TSV exists) when the date already has rows."""
        if self.force:
            return False
        # The connection is not held through the aggregation, which can take hours:
        # servers close idle connections (wait_timeout).
        volumes = self.volumes if self.volumes is not None else self.config.volumes.report
        with _open_database(self.config) as db:
            return _already_loaded(self.config, db, day, volumes)

    def volume_tasks(self, plan: VolumePlan) -> list[StageTask]:
        config = self.config
        return [
            StageTask(
                source=source,
                day=plan.day,
                staging=plan.area.directory,
                max_bad_fraction=config.input.max_bad_fraction,
                log_bad_lines=config.input.log_bad_lines,
                quota=config.quota,
                archive=config.archive,
                block_workers=plan.block_workers,
            )
            for source in plan.files
        ]

    @staticmethod
    def stage_volume(task: StageTask) -> str:
        return stage_volume(task)

    def publish(
        self, area: StagingArea, day: dt.date, volumes: Sequence[str], staged: Sequence[str]
    ) -> int:
        with _open_database(self.config) as db:
            finalise(self.config, db, area, day, volumes, replace=self.force)
        return 0

    def abandon(self) -> None:
        pass  # nothing outside the staging area


def _open_database(config: Config) -> Database:
    return open_database(config.database, base_dir=config.source.parent)


def _already_loaded(config: Config, db: Database, day: dt.date, volumes: Sequence[str]) -> bool:
    if not has_rows_for(db, day):
        return False
    loaded = volume_names_for(db, day)
    # A volume's rows carry the name of its root (scratch<V> or <V>, SPEC section 2.2).
    missing = [v for v in volumes if f"scratch{v}" not in loaded and v not in loaded]
    if missing:
        # Loading only the missing volumes would make a TSV that mixes two runs'
        # settings without anyone asking for it: a person decides, with --force.
        raise JobFailed(
            f"{day} is already loaded, but not for volume{'s' if len(missing) > 1 else ''} "
            f"{' '.join(missing)} (added to [volumes] report since?); run again with --force "
            f"to load {day} again with every volume of the run",
            [f"volume {v}: no rows for {day} in {db.description}" for v in missing],
        )
    tsv = done_marker(config, day)
    if tsv.exists():
        log.info(
            "%s is already loaded and %s exists; nothing to do (use --force to reload)", day, tsv
        )
    else:
        write_report_tsv(tsv, rows_for(db, day))
        log.info("%s is already loaded; rewrote the missing %s from the database", day, tsv)
    return True


def finalise(
    config: Config,
    db: Database,
    area: StagingArea,
    day: dt.date,
    volumes: Sequence[str],
    replace: bool,
) -> None:
    """Load every staged volume (the driver checked they are all there) in one
    transaction, and publish the TSV with it.

    Everything that can fail for lack of space happens before the commit: the TSV is
    written in full from the transaction's own view of the date and synced under a
    temporary name beside it. After the commit only its rename is left, so a full
    disk leaves the table and the TSV as they were. (Should the rename itself fail,
    the next run finds the date loaded and rewrites the TSV from the database.)
    """
    staged = [load_usage(area.volume_path(volume)) for volume in volumes]
    record = current()
    for volume in staged:
        record.count_volume(volume.volume, volume.lines, volume.bad_lines)
    tsv = done_marker(config, day)
    with prepared_text_file(tsv, base=config.paths.report_dir) as prepared:
        with db.transaction() as cursor:
            count = load_rows(
                cursor,
                day,
                [s.volume_name for s in staged],
                [row for s in staged for row in s.rows],
                replace=replace,
            )
            write_report_lines(prepared.handle, rows_in(cursor, day))
            prepared.finish()
        prepared.install()
    log.info("loaded %d rows for %s into %s", count, day, db.description)
    record.rows_written["lustre_usage"] = count
    log.info("wrote %s", tsv)
    _note_quota_failures(staged)


# How many group names a note lists; the log of the stage names every one.
_NAMES_IN_A_NOTE = 10


def _note_quota_failures(staged: Sequence[StagedVolume]) -> None:
    """Published with NULL quotas: a person should look at ``lfs`` (exit status 3)."""
    record = current()
    for volume in staged:
        failed = volume.quota_failures
        if not failed:
            continue
        record.quota_failures.extend(f"{volume.volume_name}:{group}" for group in failed)
        looked_up = sum(1 for row in volume.rows if row.quota is not None) + len(failed)
        shown = ", ".join(failed[:_NAMES_IN_A_NOTE])
        more = (
            f" and {len(failed) - _NAMES_IN_A_NOTE} more" if len(failed) > _NAMES_IN_A_NOTE else ""
        )
        record.degrade(
            f"volume {volume.volume_name}: quota look-ups failed for {len(failed)} of {looked_up}"
            f" groups ({shown}{more}); their Quota is NULL (or what an earlier run of the date"
            " stored), and `report --force` on a later run looks them up again"
        )


# -- staging one volume (runs in a pool worker) ------------------------------------------


@dataclass(frozen=True)
class StageTask:
    """What a pool worker needs to stage one report volume (picklable)."""

    source: InputFile
    day: dt.date  # the set's date (--date may differ from the date in the file's name)
    staging: Path  # the run's staging area: directory.db in, volume-<V>.db out
    max_bad_fraction: float
    log_bad_lines: int
    quota: QuotaConfig
    archive: ArchiveConfig
    block_workers: int = 1  # processes parsing this volume's blocks


def stage_volume(task: StageTask) -> str:
    """Aggregate one volume and stage its rows; returns the volume number."""
    source = task.source
    area = StagingArea(task.staging)
    groups = area.load_directory()
    with (
        driver.open_reader(source, task.max_bad_fraction, task.log_bad_lines) as reader,
        QuotaLookups(f"/lustre/{reader.volume_name}", task.quota) as quotas,
    ):
        reference = math.floor(reader.mtime)
        aggregate = aggregate_file(
            reader,
            partial(UsageAggregate, reference),
            workers=task.block_workers,
            on_local_fold=_QuotaStarter(groups, quotas),
        )
        rows_out, quota_failures = usage_rows(
            task, groups, aggregate, reader.volume_name, reader.mtime, quotas
        )
        save_usage(
            area.new_volume_path(source.volume),
            StagedVolume(
                volume=source.volume,
                volume_name=reader.volume_name,
                source=str(source.path),
                lines=reader.lines,
                bad_lines=reader.bad_lines,
                rows=tuple(rows_out),
                quota_failures=tuple(quota_failures),
            ),
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
