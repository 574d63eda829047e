"""The inspector as a job of the run frame: one volume's inspection (aggregate its
blocks, stage its rows in SQLite) and publishing the staged volumes (the table, the
Spaceman merge with --tosql, the done-marker TSV). The command's options and its
PATH mode are in inspect/command.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from humgen_storage.changes.history import HistoryRow, record_night
from humgen_storage.config import Config
from humgen_storage.db import open_database
from humgen_storage.errors import ConfigError
from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.path_query import PathSelection
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.inspect.roots import DEFAULT_DEPTH
from humgen_storage.inspect.rows import (
    CLASS_COLUMNS,
    Table,
    TableRow,
    VolumeInspection,
    write_table,
)
from humgen_storage.inspect.spaceman import merge_into_spaceman
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.files import InputFile
from humgen_storage.run import driver, layout, record
from humgen_storage.run.aggregate import aggregate_file
from humgen_storage.run.atomic import prepared_text_file
from humgen_storage.run.inputs import InputSet
from humgen_storage.run.job import VolumePlan
from humgen_storage.run.record import current
from humgen_storage.run.registry import VOLUMES_KEYS
from humgen_storage.run.staging import StagingArea, load_inspection, save_inspection
from humgen_storage.run.volumes import default_workers

log = logging.getLogger(__name__)

JOB = "inspect"


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
    block_workers: int = 1  # processes parsing this volume's blocks (run/blocks.py)


@dataclass(frozen=True)
class StageTask:
    """One volume to inspect, and the staging area its rows go to."""

    inspect: VolumeTask
    staging: Path


def inspect_volume(task: VolumeTask) -> VolumeInspection:
    """Read one volume's file and aggregate it (runs in a pool worker)."""
    vlog = volume_logger(__name__, task.source.volume)
    started = time.monotonic()
    with driver.open_reader(task.source, task.max_bad_fraction, task.log_bad_lines) as reader:
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


def stage_volume(task: StageTask) -> str:
    """Inspect one volume and stage its rows (runs in a pool worker)."""
    inspection = inspect_volume(task.inspect)
    assert isinstance(inspection.rows, InspectorRows)  # whole volumes: as ``finish`` gives them
    path = StagingArea(task.staging).new_volume_path(inspection.volume)
    save_inspection(path, inspection.volume, inspection.rows)
    return inspection.volume


# ------------------------------------------------------------------------ the job


@dataclass(frozen=True)
class InspectJob:
    """The inspector in the run frame (``run.job.Job``), for one way of running it."""

    config: Config
    depth: int = DEFAULT_DEPTH
    roots: Mapping[str, tuple[str, ...]] | None = None  # None: the configured ones
    selection: PathSelection | None = None  # PATH mode: only rows at or below it
    shown_path: str = ""  # PATH as given, for messages
    names: bool = True  # look each row's PI and Unix Group up in the directory
    tosql: bool = False  # merge into the spaceman table
    marker: bool = False  # write the done-marker TSV last
    generic: bool = False
    header: bool = True
    force: bool = False  # --tosql: delete gone spaceman rows past the deletion guard

    name = JOB
    volumes_key = VOLUMES_KEYS[JOB]
    stages_in_sqlite = True
    max_volumes_at_once = 1 << 30  # no ceiling beyond the processes given

    @classmethod
    def managed(cls, config: Config, force: bool = False) -> InspectJob:
        """``inspect --tosql`` on the whole set, then the done-marker."""
        return cls(config, tosql=True, marker=True, force=force)

    @property
    def needs_directory(self) -> bool:
        return self.names

    def done_marker(self, day: dt.date) -> Path:
        return done_marker(self.config, day)

    def already_done(self, day: dt.date) -> bool:
        return False  # the manager checks the marker; a direct run always runs

    def volume_tasks(self, plan: VolumePlan) -> list[StageTask]:
        config = self.config
        volumes = [source.volume for source in plan.files]
        roots = self.roots if self.roots is not None else roots_by_volume(config, volumes)
        _check_class_names(config)
        log.info(
            "inspect %s: volumes %s, depth %d", plan.day.isoformat(), " ".join(volumes), self.depth
        )
        only_under = self.selection.project if self.selection is not None else ()
        return [
            StageTask(
                VolumeTask(
                    source=source,
                    roots=roots[source.volume],
                    file_classes=config.inspector.file_classes,
                    depth=self.depth,
                    max_bad_fraction=config.input.max_bad_fraction,
                    log_bad_lines=config.input.log_bad_lines,
                    only_under=only_under,
                    block_workers=plan.block_workers,
                ),
                plan.area.directory,
            )
            for source in plan.files
        ]

    @staticmethod
    def stage_volume(task: StageTask) -> str:
        return stage_volume(task)

    def publish(
        self, area: StagingArea, day: dt.date, volumes: Sequence[str], staged: Sequence[str]
    ) -> int:
        """Merge into spaceman (--tosql) and install the done-marker TSV, then print
        the table.

        The TSV is written in full and synced under a temporary name before the
        spaceman commit, and renamed after it: a full disk fails the run before the
        commit, leaving spaceman and the TSV as they were.
        """
        inspections = [
            VolumeInspection(*load_inspection(area.volume_path(volume))) for volume in volumes
        ]
        if self.selection is not None:
            inspections = self._selected(inspections, self.selection)
        table = Table(inspections, area.load_directory() if self.names else None)
        if self.marker:
            marker = done_marker(self.config, day)
            base = self.config.paths.report_dir
            with prepared_text_file(marker, base=base) as prepared:
                write_table(table, prepared.handle)
                prepared.finish()
                if self.tosql:
                    save_to_spaceman(self.config, table, volumes, day, self.force)
                prepared.install()
            log.info("wrote %s", marker)
        elif self.tosql:
            save_to_spaceman(self.config, table, volumes, day, self.force)
        write_table(table, sys.stdout, generic=self.generic, header=self.header)
        sys.stdout.flush()
        return 0

    def abandon(self) -> None:
        pass  # nothing outside the staging area

    def _selected(
        self, inspections: list[VolumeInspection], selection: PathSelection
    ) -> list[VolumeInspection]:
        selected = [
            VolumeInspection(
                inspection.volume, [row for row in inspection.rows if selection.selects(row)]
            )
            for inspection in inspections
        ]
        if not any(inspection.rows for inspection in selected):
            if selection.path_root is not None:  # its own root row is there whenever it has records
                log.warning(
                    "no records at or below %s on volume %s", self.shown_path, selection.volume
                )
            else:
                log.warning(
                    "no rows at or below %s at depth %d (a deeper --depth may show it)",
                    self.shown_path,
                    self.depth,
                )
        return selected


def roots_by_volume(config: Config, volumes: Sequence[str]) -> dict[str, tuple[str, ...]]:
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


def save_to_spaceman(
    config: Config, table: Table, volumes: Sequence[str], day: dt.date, force: bool = False
) -> None:
    """Merge the table into spaceman in one transaction (see inspect/spaceman.py). A
    volume whose rows the deletion guard kept is a note for a person (exit status 3)."""
    rows: list[TableRow] = list(table)
    with open_database(config.database, base_dir=config.source.parent) as database:
        counts = merge_into_spaceman(
            database,
            [row.spaceman_row() for row in rows],
            volumes,
            max_delete_fraction=config.inspector.max_delete_fraction,
            force=force,
        )
        where = database.description
        history = record_night(database, day, volumes, [_history_row(row) for row in rows])
    current().rows_written["inspector_history"] = history
    for volume, why in counts.withheld.items():
        note = (
            f"volume {volume}: no spaceman rows deleted in {where}: {why}; check [inspector] "
            f"{volume} in {config.source}, then, if the rows are really gone, run "
            f"`manage inspect --date {day} --force`"
        )
        volume_logger(__name__, volume).warning("%s", note)
        record.current().degrade(note)
    current().rows_written["spaceman"] = counts.updated + counts.inserted
    log.info(
        "spaceman in %s: %d rows updated, %d new, %d gone (volumes %s)",
        where,
        counts.updated,
        counts.inserted,
        counts.deleted,
        " ".join(volumes),
    )


def _history_row(row: TableRow) -> HistoryRow:
    """The row in exact bytes, for ``changes`` (changes/history.py)."""
    return (
        row.volume,
        row.project,
        row.directory,
        row.row.total_bytes,
        row.row.files,
        row.unix_group,
    )


# ------------------------------------------------------------------------ the manager's entry


def done_marker(config: Config, day: dt.date) -> Path:
    """The TSV whose presence tells the manager the inspector ran for ``day``."""
    return layout.inspector_tsv(config.paths.report_dir, day)


def run_managed(config: Config, input_set: InputSet) -> int:
    """``inspect --tosql`` on ``input_set``, then the done-marker (the manager holds the lock)."""
    return driver.run_job(
        config, InspectJob.managed(config), input_set, default_workers(config.workers)
    )
