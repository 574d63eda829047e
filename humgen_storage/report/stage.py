"""Staging one report volume (runs in a pool worker): one pass over the file gives the
groups' and the users' totals (``UsageAggregate``), the quota look-ups run meanwhile,
and the volume's lustre_usage, usage_by_user and usage_quota rows are staged in its
own SQLite file for the finaliser (``report.job``)."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from humgen_storage.config import ArchiveConfig, QuotaConfig
from humgen_storage.directory import GroupDirectory
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.files import InputFile
from humgen_storage.names import is_safe_file_name
from humgen_storage.quota import QuotaFigures, QuotaLookups
from humgen_storage.report.aggregate import GroupTotals, UsageAggregate, consumption
from humgen_storage.report.quota_usage import quota_rows
from humgen_storage.report.table import check_used_fits
from humgen_storage.report.users import user_rows
from humgen_storage.run import driver
from humgen_storage.run.aggregate import aggregate_file
from humgen_storage.run.report_staging import StagedVolume, UsageRow, save_usage
from humgen_storage.run.staging import StagingArea
from humgen_storage.units import days_since


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
            on_news=_QuotaStarter(groups, quotas),
        )
        totals, users = aggregate.results()
        figures = _checked_figures(groups, totals, reader.volume_name, quotas)
        rows_out, quota_failures = usage_rows(
            task, groups, totals, reader.volume_name, reader.mtime, figures
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
                users=user_rows(reader.volume_name, reader.mtime, groups, users),
                quotas=tuple(quota_rows(reader.volume_name, task.day, groups, totals, figures)),
            ),
        )
    volume_logger(__name__, reader.volume_name).info(
        "staged %d groups, %d (group, user) pairs from %d lines of %s",
        len(rows_out),
        len(users),
        reader.lines,
        source.path,
    )
    return source.volume


@dataclass
class _QuotaStarter:
    """Starts the quota look-ups of the named groups as the aggregation meets them."""

    groups: GroupDirectory
    quotas: QuotaLookups

    def __call__(self, new_gids: Iterable[int]) -> None:
        # Each process tells of its own new gids: a gid two processes met comes twice,
        # and the look-ups want each name once anyway.
        names = (self.groups.lookup(gid).name for gid in sorted(new_gids))
        self.quotas.want(name for name in names if name is not None)


def _checked_figures(
    groups: GroupDirectory,
    totals: Mapping[int, GroupTotals],
    volume_name: str,
    quotas: QuotaLookups,
) -> dict[str, QuotaFigures | None]:
    """Every named group's quota figures, once each total is known to fit its column
    (checked before waiting for the look-ups), with a warning per nameless group."""
    vlog = volume_logger(__name__, volume_name)
    named = {gid: groups.lookup(gid) for gid in totals}
    for gid, total in sorted(totals.items()):
        check_used_fits(volume_name, named[gid].name or str(gid), gid, total.used)
    for gid, group in sorted(named.items()):
        if group.unsafe:
            vlog.warning(
                "gid %d has an unsafe name in the directory; reported as %r", gid, str(gid)
            )
        elif group.name is None:
            vlog.warning("gid %d has no posixGroup in the directory; reported as %r", gid, str(gid))
    return quotas.figures(sorted({g.name for g in named.values() if g.name is not None}))


def usage_rows(
    task: StageTask,
    groups: GroupDirectory,
    totals: Mapping[int, GroupTotals],
    volume_name: str,
    reference: float,
    figures: Mapping[str, QuotaFigures | None],
) -> tuple[list[UsageRow], list[str]]:
    """The lustre_usage rows of one volume: totals joined with directory, quota and
    archive (``task``: the volume, the set's date, the archive settings); and the
    named groups whose quota look-up failed, in name order."""
    archive, volume, day = task.archive, task.source.volume, task.day
    failed = [name for name, found in figures.items() if found is None]
    archive_dirs = archive.dirs.get(volume, ())
    rows = []
    for gid, total in sorted(totals.items()):
        group = groups.lookup(gid)
        found = figures.get(group.name) if group.name is not None else None
        quota = None if found is None else found.block_limit
        archived = None
        if group.name is not None and total.used < archive.threshold_bytes:
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
    return rows, failed


def find_archived(archive_dirs: tuple[str, ...], group: str) -> str | None:
    """The first ``<dir>/<group>`` holding an entry named ``.imirrored``."""
    # The group name becomes a path component: the directory keeps only names that
    # pass this check (humgen_storage.names); kept here for names from elsewhere.
    if not is_safe_file_name(group):
        return None
    for directory in archive_dirs:
        candidate = os.path.join(directory.rstrip("/"), group)
        if os.path.lexists(os.path.join(candidate, ".imirrored")):
            return candidate
    return None
