"""The run frame every job runs in, written once.

A run: take the job's lock (held: see ``run_locked``); choose the input set (FILEs or
the newest complete set); discard a crashed run's staging area; load the group
directory once, before any volume is read, and stage it as ``directory.db`` for the
tasks to read; plan the processes; run one task per volume in a pool, each staging
its volume; check every volume is staged; publish; discard the area.

For sites that spread the volumes over LSF array elements, ``stage_only`` stages one
volume (no lock: elements run side by side, each writing only its own file) and
``finalise`` publishes every staged volume of a date, the same way for every job
that stages. An outage of the directory or the database is the same failure in every
job: the error propagates, and the CLI maps it to exit 1 and one line, "nothing was written".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from humgen_storage.config import Config
from humgen_storage.directory import load_directory, note_unsafe_names
from humgen_storage.errors import JobFailed, UsageError
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.run import layout
from humgen_storage.run.inputs import InputSet, find_set, set_from_files
from humgen_storage.run.job import Job, VolumePlan
from humgen_storage.run.locking import job_lock
from humgen_storage.run.record import InputRecord, RunRecord, current, task_record
from humgen_storage.run.registry import VOLUMES_KEYS, configured_volumes
from humgen_storage.run.staging import StagingArea
from humgen_storage.run.volumes import plan_workers, report_progress, run_per_volume

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ pieces every job uses


def run_locked(config: Config, job: str, work: Callable[[], int], managed: bool = False) -> int:
    """``work()`` under the job's lock. Held by a running run: a manager (``managed``)
    has nothing to do (0, naming the holder); a job run by hand fails (1), since what it
    was asked to do is not done. Held after its run has ended (processes left holding
    the file): a failure for both, naming them, never "another run is working"."""
    with job_lock(layout.lock_dir(config), job) as holder:
        if holder is None:
            return work()
        if not holder.running:
            raise JobFailed(f"the {job} lock cannot be taken: {holder}")
        if managed:
            log.info(
                "%s: the lock is held (%s); another run is working, nothing to do", job, holder
            )
            current().nothing_to_do = True
            return 0
        raise JobFailed(f"another {job} is running ({holder})")


def choose_inputs(
    config: Config, job: str, files: Sequence[str | Path], day: dt.date | None
) -> InputSet:
    """The FILEs named, else the set of ``day``, else the newest complete set (noted in
    the run's record, so that a run with nothing to do names its set too)."""
    if files:
        chosen = set_from_files(files, day)
    else:
        volumes = configured_volumes(config, job)
        chosen = find_set(config, volumes, day, f"{VOLUMES_KEYS[job]} volumes")
    _record_inputs(chosen)
    return chosen


def _record_inputs(input_set: InputSet) -> None:
    record = current()
    record.date = input_set.date.isoformat()
    record.inputs = [_input_record(f.path) for f in input_set.files]


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader reports the missing file as the volume's failure


def open_reader(
    source: InputFile,
    max_bad_fraction: float,
    log_bad_lines: int,
    reader: Callable[..., MpistatReader] = MpistatReader,
) -> MpistatReader:
    """A reader as every job's stage opens it: the bad-line policy and shared progress.
    ``reader``: the class, or a ``partial`` of it (a smaller block size in tests).
    Its counts go into the run's record when the volume's task ends (``_recorded_stage``)."""
    opened = reader(
        source,
        max_bad_fraction=max_bad_fraction,
        log_bad_lines=log_bad_lines,
        on_progress=report_progress,
    )
    _readers_of_task.append(opened)
    return opened


# The readers the running task opened, in this process (a pool worker's own list).
_readers_of_task: list[MpistatReader] = []


def _recorded_stage(stage: Callable[[Any], Any], task: Any) -> tuple[Any, RunRecord]:
    """Run one volume's stage with a record of its own: the lines it read, and what it
    noted for a person (``current().degrade``) in a pool worker, go back to the parent
    with its result (a module-level function: it is pickled to the workers)."""
    _readers_of_task.clear()
    with task_record("volume") as part:
        result = stage(task)
        for reader in _readers_of_task:
            part.count_volume(reader.source.volume, reader.lines, reader.bad_lines)
    _readers_of_task.clear()
    return result, part


# ------------------------------------------------------------------ a whole run


def staging_area(config: Config, job: Job[Any, Any], day: dt.date, private: bool) -> StagingArea:
    return StagingArea(layout.staging_dir(config.paths.report_dir, job.name, day, private))


def run_job(
    config: Config, job: Job[Any, Any], input_set: InputSet, workers: int, private: bool = False
) -> int:
    """Run ``job`` on ``input_set`` (the caller holds the lock unless ``private``)."""
    day = input_set.date
    record = current()
    _record_inputs(input_set)
    record.monitored = record.monitored and not private
    area = staging_area(config, job, day, private)
    area.discard()  # whatever a crashed run left is not trusted
    if job.already_done(day):
        record.nothing_to_do = True
        return 0
    try:
        if job.needs_directory:
            with record.stage("directory"):
                directory = load_directory(config.ldap)
                area.save_directory(directory)
                note_unsafe_names(directory)
        with record.stage("read"):
            staged = _stage_volumes(job, area, input_set, workers)
            missing = area.missing(input_set.volumes) if job.stages_in_sqlite else []
            _refuse_missing(area, input_set.volumes, missing)
        with record.stage("publish"):
            status = job.publish(area, day, input_set.volumes, staged)
    except BaseException:
        job.abandon()
        area.discard()
        raise
    area.discard()
    return status


def _stage_volumes(
    job: Job[Any, Any], area: StagingArea, input_set: InputSet, workers: int
) -> list[Any]:
    at_once, block_workers = plan_workers(workers, len(input_set.files))
    plan = VolumePlan(
        day=input_set.date,
        files=input_set.files,
        area=area,
        volumes_at_once=min(at_once, job.max_volumes_at_once),
        block_workers=block_workers,
    )
    tasks = job.volume_tasks(plan)
    outcomes = run_per_volume(
        partial(_recorded_stage, job.stage_volume),
        tasks,
        list(input_set.volumes),
        plan.volumes_at_once,
        sum(file_size(f.path) for f in input_set.files),
        f"{job.name} {input_set.date}",
    )
    record = current()
    for _, part in outcomes:
        record.merge(part)
    return [result for result, _ in outcomes]


def _input_record(path: Path) -> InputRecord:
    try:
        stat = path.stat()
    except OSError:
        return InputRecord(str(path), None, None)
    return InputRecord(str(path), stat.st_size, stat.st_mtime)


def _refuse_missing(area: StagingArea, volumes: Sequence[str], missing: Sequence[str]) -> None:
    if missing:
        raise JobFailed(
            f"{len(missing)} of {len(volumes)} volumes are not staged: {' '.join(missing)}",
            [f"volume {volume}: not staged in {area.directory}" for volume in missing],
        )


# ------------------------------------------------------------------ LSF arrays


def stage_only(
    config: Config, job: Job[Any, Any], volume: str, day: dt.date | None, workers: int
) -> int:
    """Stage one volume of the set of ``day`` (default: the newest complete set's date).

    Only the volume's own file is needed. No lock: array elements run side by side,
    each writing only its own file; the first to find no directory stages it.
    """
    volumes = configured_volumes(config, job.name)
    if volume not in volumes:
        raise UsageError(f"volume {volume} is not in [volumes] {job.volumes_key}")
    if day is None:
        day = find_set(config, volumes, None, f"{job.volumes_key} volumes").date
    area = staging_area(config, job, day, private=False)
    input_set = InputSet(day, (InputFile.expected(config.paths.mpistat_dir, day, volume),))
    record = current()
    record.part = f"stage-only volume {volume}"
    _record_inputs(input_set)
    if job.needs_directory and not area.has_directory():
        with record.stage("directory"):
            area.save_directory(load_directory(config.ldap))
    try:
        with record.stage("read"):
            _stage_volumes(job, area, input_set, workers)
    except JobFailed as exc:
        raise JobFailed(f"volume {volume} was not staged", exc.reasons) from None
    log.info("staged %s volume %s for %s in %s", job.name, volume, day, area.directory)
    return 0


def finalise(config: Config, job: Job[Any, Any], day: dt.date) -> int:
    """Publish every staged volume of ``day`` under the job's lock; any volume not
    staged: exit 1, nothing written (the staged ones are kept for a later try)."""

    def publish_staged() -> int:
        volumes = configured_volumes(config, job.name)
        area = staging_area(config, job, day, private=False)
        record = current()
        record.date = day.isoformat()
        if job.already_done(day):
            record.nothing_to_do = True
            return 0
        _refuse_missing(area, volumes, area.missing(volumes))
        if job.needs_directory:
            note_unsafe_names(area.load_directory())
        with record.stage("publish"):
            status = job.publish(area, day, volumes, volumes)
        area.discard()
        return status

    return run_locked(config, job.name, publish_staged)
