"""split: one gzip file of mpistat lines per Unix group for TreeServe, uploaded to S3.

Flow (spec section 6): load the directory once; a pool splits each volume into its
own per-group part files (in input order, in TreeServe's format: base64 lines byte for
byte, wrstat lines rewritten as the base64 lines of the same records): the volume's
process decompresses and writes, while block workers (``map_raw_blocks``; threads on
the compiled kernel) check the lines of each block, select them by destination and
rewrite them, group by group (``split/blocks.py``). The parent joins the parts per
group in volume order, writes ``index.txt``, ``groupfile`` and ``passwdfile``, renames
the complete build to ``<output_dir>/<YYYYMMDD>`` (or ``-o DIR``), uploads it to S3
and only then writes ``<YYYYMMDD>/.uploaded``, the manager's done-marker. A failed
volume leaves no dated directory and uploads nothing; a failed upload (or
``--no-upload``) leaves the directory without its marker, and the next ``manage
split`` uploads what is missing from it, then marks it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.directory import GroupDirectory
from humgen_storage.errors import UsageError
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.names import printable
from humgen_storage.run import driver, layout
from humgen_storage.run.blocks import Helpers, map_raw_blocks
from humgen_storage.run.inputs import InputSet, add_input_arguments
from humgen_storage.run.job import VolumePlan
from humgen_storage.run.registry import VOLUMES_KEYS
from humgen_storage.run.staging import StagingArea
from humgen_storage.run.volumes import default_workers
from humgen_storage.split.blocks import BlockSplitter
from humgen_storage.split.groupfiles import (
    INDEX_FILE,
    GroupPartWriter,
    OutputBuild,
    PartInfo,
    join_parts,
)
from humgen_storage.split.index import IndexConstants, write_getent_files, write_index
from humgen_storage.split.select import GroupSelector
from humgen_storage.split.writer_thread import PartWriterThread

log = logging.getLogger(__name__)

JOB = "split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument(
        "--id", action="store_true", help="name group files <gid>.dat.gz instead of <group>.dat.gz"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="output directory (default: [splitter] output_dir/YYYYMMDD)",
    )
    parser.add_argument(
        "--no-upload", action="store_true", help="build the directory but do not upload it to S3"
    )


def done_marker(config: Config, day: dt.date) -> Path:
    """``<output_dir>/<YYYYMMDD>/.uploaded``: written only after every file is in S3."""
    return layout.uploaded_marker(layout.split_output(config.splitter.output_dir, day))


def upload_and_mark(directory: Path, config: Config) -> None:
    """Upload every file of a built directory (objects already there with the same
    size and SHA-256 are skipped), then write its ``.uploaded`` marker. A failure
    names what was and was not updated and leaves the directory unmarked."""
    # Imported here: boto3 is slow to import and only needed for the upload.
    from humgen_storage.split.upload import upload_directory, write_upload_marker

    summary = upload_directory(directory, config.s3, last=(INDEX_FILE,))
    marker = layout.uploaded_marker(directory)
    write_upload_marker(marker, config.s3, summary)
    log.info("%s: every file is in S3; wrote %s", directory, marker)


def run(args: argparse.Namespace, config: Config) -> int:
    workers = default_workers(args.workers or config.workers)

    def split_inputs() -> int:
        input_set = driver.choose_inputs(config, JOB, args.files, args.date)
        output = Path(args.output).absolute() if args.output else None
        job = SplitJob(config, output, by_id=args.id, upload=not args.no_upload)
        return driver.run_job(config, job, input_set, workers)

    return driver.run_locked(config, JOB, split_inputs)


def run_managed(config: Config, input_set: InputSet) -> int:
    """The manager's entry point: the lock is already held."""
    return driver.run_job(
        config, SplitJob.managed(config), input_set, default_workers(config.workers)
    )


# ------------------------------------------------------------------ one volume


@dataclass(frozen=True)
class SplitTask:
    """Everything a pool worker needs for one volume (pickled to the worker)."""

    source: InputFile
    parts_dir: Path
    selector: GroupSelector
    staging: Path  # the run's staging area, holding directory.db
    max_bad_fraction: float
    log_bad_lines: int
    max_open_files: int
    compress_level: int
    buffer_bytes: int
    group_flush_bytes: int
    block_workers: int = 1  # processes parsing this volume's blocks (mpistat/parallel.py)


@dataclass
class VolumeSplit:
    """What one volume contributed."""

    volume: str
    parts: dict[str, PartInfo]
    lines: int = 0
    selected: int = 0
    skipped: int = 0
    undecodable: int = 0
    # gid -> (name, records) of groups skipped because their name is not a file name
    unsafe: dict[int, tuple[str | None, int]] = field(default_factory=dict)


def split_volume(task: SplitTask) -> VolumeSplit:
    """Split one mpistat file into per-group part files. Runs in a pool worker.

    The volume's process decompresses and writes (in a thread of its own when there are
    block workers); ``task.block_workers`` processes (itself included), or threads on
    the compiled kernel, parse and select, block by block, in file order.
    """
    vlog = volume_logger(__name__, task.source.volume)
    writer = GroupPartWriter(
        task.parts_dir / task.source.volume,
        max_open_files=task.max_open_files,
        compress_level=task.compress_level,
        buffer_bytes=task.buffer_bytes,
        group_flush_bytes=task.group_flush_bytes,
    )
    unsafe_counts: dict[int, int] = {}
    selected = undecodable = 0
    directory = StagingArea(task.staging).load_directory()
    output: PartWriterThread | None = None
    try:
        with driver.open_reader(
            task.source, task.max_bad_fraction, task.log_bad_lines, MpistatReader
        ) as reader:
            splitter = BlockSplitter(task.selector, directory, reader.format)
            # With block workers, this process would otherwise compress between blocks
            # while they wait for it: its writing gets a thread of its own.
            output = PartWriterThread(writer, splitter.table.stems, task.block_workers > 1)
            blocks = map_raw_blocks(
                reader,
                splitter,
                task.block_workers,
                helpers_are=Helpers.THREADS if splitter.releases_gil else Helpers.COPYING,
            )
            for result in blocks:
                output.add(result)
                selected += result.lines
                undecodable += result.undecodable
                for gid, count in result.unsafe.items():
                    unsafe_counts[gid] = unsafe_counts.get(gid, 0) + count
            total_lines = reader.lines
            # Every valid line not written was skipped (as were the malformed ones,
            # counted apart by the reader).
            skipped = total_lines - reader.bad_lines - selected - sum(unsafe_counts.values())
        parts = {stem: part for stem, part in output.close().items() if part.lines}
    except BaseException:
        if output is not None:
            output.abandon()
        writer.abort()
        raise
    if undecodable:
        vlog.warning(
            "%s: %d records with an undecodable path were not matched against the special prefixes",
            task.source.path,
            undecodable,
        )
    vlog.info(
        "%s: %d records, %d written to %d group files, %d skipped",
        task.source.path,
        total_lines,
        selected,
        len(parts),
        skipped + sum(unsafe_counts.values()),
    )
    return VolumeSplit(
        volume=task.source.volume,
        parts=parts,
        lines=total_lines,
        selected=selected,
        skipped=skipped,
        undecodable=undecodable,
        unsafe={gid: (directory.name(gid), count) for gid, count in unsafe_counts.items()},
    )


# ------------------------------------------------------------------ the whole run


@dataclass
class SplitJob:
    """The split in the run frame (``run.job.Job``): its stage is a volume's part
    files and summary; publishing joins them per group, writes the index, uploads and
    installs the dated directory (the done-marker)."""

    config: Config
    output: Path | None  # None: ``[splitter] output_dir/YYYYMMDD``
    by_id: bool = False
    upload: bool = True
    # The manager's way: a dated directory already built (by --no-upload, or by a run
    # whose upload failed) is uploaded and marked as it is, not built again.
    finish_built: bool = False
    _build: OutputBuild | None = field(default=None, init=False, repr=False)

    name = JOB
    volumes_key = VOLUMES_KEYS[JOB]
    needs_directory = True
    stages_in_sqlite = False

    @classmethod
    def managed(cls, config: Config) -> SplitJob:
        return cls(config, None, finish_built=True)

    @property
    def max_volumes_at_once(self) -> int:
        # Only a volume's own process writes, so the open-file limit is shared among
        # the volumes at once.
        return self.config.splitter.max_open_files

    def done_marker(self, day: dt.date) -> Path:
        return done_marker(self.config, day)

    def already_done(self, day: dt.date) -> bool:
        """For the manager (which found no marker): a complete build of ``day`` is
        uploaded and marked here, and needs no new build. A direct run always builds."""
        if not self.finish_built:
            return False
        built = layout.split_output(self.config.splitter.output_dir, day)
        if not (built / INDEX_FILE).is_file():  # installed only complete: no index, no build
            return False
        log.info("split %s: %s is built but not marked uploaded; uploading it", day, built)
        upload_and_mark(built, self.config)
        return True

    def volume_tasks(self, plan: VolumePlan) -> list[SplitTask]:
        files = plan.files
        if not files:
            raise UsageError("no input files")
        splitter = self.config.splitter
        directory: GroupDirectory = plan.area.load_directory()
        selector = GroupSelector.create(
            directory.humgen_gids(), splitter.special_prefixes, by_id=self.by_id
        )
        open_files_per_worker = max(1, splitter.max_open_files // plan.volumes_at_once)
        output = self.output or layout.split_output(self.config.splitter.output_dir, plan.day)
        self._build = build = OutputBuild(output)
        build.start()
        log.info(
            "split %s: %d volumes (%s) into %s, %d at once with %d block workers each, "
            "at most %d open output files each",
            plan.day,
            len(files),
            " ".join(f.volume for f in files),
            output,
            plan.volumes_at_once,
            plan.block_workers,
            open_files_per_worker,
        )
        return [
            SplitTask(
                source=source,
                parts_dir=build.parts_dir,
                selector=selector,
                staging=plan.area.directory,
                max_bad_fraction=self.config.input.max_bad_fraction,
                log_bad_lines=self.config.input.log_bad_lines,
                max_open_files=open_files_per_worker,
                compress_level=splitter.compress_level,
                buffer_bytes=splitter.buffer_bytes,
                group_flush_bytes=splitter.group_flush_bytes,
                block_workers=plan.block_workers,
            )
            for source in files
        ]

    @staticmethod
    def stage_volume(task: SplitTask) -> VolumeSplit:
        return split_volume(task)

    def publish(
        self,
        area: StagingArea,
        day: dt.date,
        volumes: Sequence[str],
        staged: Sequence[VolumeSplit],
    ) -> int:
        build = self._build
        assert build is not None  # volume_tasks started it
        splitter = self.config.splitter
        _warn_unsafe_names(staged)
        totals = join_parts(build.temporary, [r.parts for r in staged])
        constants = IndexConstants.from_config(splitter)
        groups = write_index(build.temporary, totals.values(), constants, self.by_id)
        write_getent_files(build.temporary)
        selected = sum(r.selected for r in staged)
        skipped = sum(r.skipped + sum(count for _, count in r.unsafe.values()) for r in staged)
        log.info(
            "split %s: %d group files, %d records written, %d skipped",
            day,
            groups,
            selected,
            skipped,
        )
        if groups == 0:
            log.warning(
                "split %s: no record belongs to a selected group; only %s is written",
                day,
                INDEX_FILE,
            )
        # Installed complete before the upload: what an upload fails to send stays
        # here, unmarked, for the next run to complete.
        build.install()
        self._build = None
        log.info("split %s: built %s", day, build.final)
        if self.upload:
            upload_and_mark(build.final, self.config)
        else:
            log.info(
                "--no-upload: nothing sent to S3; %s is not marked uploaded (manage split uploads it)",
                build.final,
            )
        return 0

    def abandon(self) -> None:
        if self._build is not None:
            self._build.discard()
            self._build = None


def _warn_unsafe_names(results: Sequence[VolumeSplit]) -> None:
    skipped: dict[int, tuple[str | None, int]] = {}
    for result in results:
        for gid, (name, count) in result.unsafe.items():
            skipped[gid] = (name, skipped.get(gid, (name, 0))[1] + count)
    for gid, (name, count) in sorted(skipped.items()):
        # The directory drops unsafe names (humgen_storage.names), so a group here
        # normally has no name at all: unknown, or its name was unsafe.
        log.warning(
            "gid %d (%s) has no safe file name: its %d records are skipped (--id writes %d.dat.gz)",
            gid,
            "no usable name in the directory" if name is None else f'"{printable(name)}"',
            count,
            gid,
        )
