"""split: one gzip file of mpistat lines per Unix group for TreeServe, uploaded to S3.

Flow (spec section 6): load the directory once; a pool splits each volume into its
own per-group part files (in input order, in TreeServe's format: base64 lines byte for
byte, wrstat lines rewritten as the base64 lines of the same records): the volume's
process decompresses and writes, while block workers (``map_raw_blocks``) check the
lines of each block and group them by destination, in one pass, and rewrite a wrstat
group's lines in bulk. The parent joins the parts per
group in volume order, writes ``index.txt``, ``groupfile`` and ``passwdfile``, uploads
the directory to S3 and only then renames it to ``<output_dir>/<YYYYMMDD>`` (or ``-o
DIR``), the manager's done-marker. A failed volume or upload leaves no dated
directory, and a failed volume uploads nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.directory import GroupDirectory, load_directory
from humgen_storage.errors import UsageError
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.run.blocks import map_raw_blocks
from humgen_storage.run.inputs import (
    InputSet,
    add_input_arguments,
    find_set,
    set_from_files,
)
from humgen_storage.run.locking import job_lock, lock_dir
from humgen_storage.run.volumes import (
    default_workers,
    plan_workers,
    report_progress,
    run_per_volume,
)
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
    """The dated output directory: it exists only once a run is complete (and uploaded)."""
    return config.splitter.output_dir / day.strftime("%Y%m%d")


def run(args: argparse.Namespace, config: Config) -> int:
    workers = default_workers(args.workers or config.workers)
    with job_lock(lock_dir(config), JOB) as held_by:
        if held_by:
            log.info("another split is running (%s); nothing to do", held_by)
            return 0
        if args.files:
            input_set = set_from_files(args.files, args.date)
        else:
            input_set = find_set(config, config.volumes.splitter, args.date, "splitter volumes")
        output = (
            Path(args.output).absolute() if args.output else done_marker(config, input_set.date)
        )
        return run_split(
            config, input_set, output, by_id=args.id, upload=not args.no_upload, workers=workers
        )


def run_managed(config: Config, input_set: InputSet) -> int:
    """The manager's entry point: the lock is already held."""
    return run_split(
        config,
        input_set,
        done_marker(config, input_set.date),
        by_id=False,
        upload=True,
        workers=default_workers(config.workers),
    )


# ------------------------------------------------------------------ one volume


@dataclass(frozen=True)
class SplitTask:
    """Everything a pool worker needs for one volume (pickled to the worker)."""

    source: InputFile
    parts_dir: Path
    selector: GroupSelector
    directory: GroupDirectory
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

    The volume's process decompresses and writes; ``task.block_workers`` processes
    (itself included) parse and select, block by block, in file order.
    """
    vlog = volume_logger(__name__, task.source.volume)
    writer = GroupPartWriter(
        task.parts_dir / task.source.volume,
        max_open_files=task.max_open_files,
        compress_level=task.compress_level,
        buffer_bytes=task.buffer_bytes,
        group_flush_bytes=task.group_flush_bytes,
    )
    unsafe_counts: dict[bytes, int] = {}
    selected = undecodable = 0
    try:
        with MpistatReader(
            task.source,
            max_bad_fraction=task.max_bad_fraction,
            log_bad_lines=task.log_bad_lines,
            on_progress=report_progress,
        ) as reader:
            splitter = BlockSplitter(task.selector, task.directory, reader.format)
            slot = writer.slot
            for result in map_raw_blocks(reader, splitter, task.block_workers):
                writer.add_joined(
                    (slot(stem), data, lines, dirs)
                    for stem, (data, lines, dirs) in result.groups.items()
                )
                for _, lines, _ in result.groups.values():
                    selected += lines
                undecodable += result.undecodable
                for gid_field, count in result.unsafe.items():
                    unsafe_counts[gid_field] = unsafe_counts.get(gid_field, 0) + count
            total_lines = reader.lines
            # Every valid line not written was skipped (as were the malformed ones,
            # counted apart by the reader).
            skipped = total_lines - reader.bad_lines - selected - sum(unsafe_counts.values())
        parts = {stem: part for stem, part in writer.close().items() if part.lines}
    except BaseException:
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
    names = {int(g): task.directory.name(int(g)) for g in unsafe_counts}
    return VolumeSplit(
        volume=task.source.volume,
        parts=parts,
        lines=total_lines,
        selected=selected,
        skipped=skipped,
        undecodable=undecodable,
        unsafe=_by_gid(unsafe_counts, names),
    )


def _by_gid(
    counts: dict[bytes, int], names: dict[int, str | None]
) -> dict[int, tuple[str | None, int]]:
    # Several spellings of one gid ("42", "042") count together.
    merged: dict[int, tuple[str | None, int]] = {}
    for gid_field, count in counts.items():
        gid = int(gid_field)
        merged[gid] = (names.get(gid), merged.get(gid, (None, 0))[1] + count)
    return merged


# ------------------------------------------------------------------ the whole run


def run_split(
    config: Config, input_set: InputSet, output: Path, by_id: bool, upload: bool, workers: int
) -> int:
    files = input_set.files
    if not files:
        raise UsageError("no input files")
    directory = load_directory(config.ldap)
    splitter = config.splitter
    selector = GroupSelector.create(directory.humgen_gids(), splitter.special_prefixes, by_id=by_id)
    # Volumes at once, and processes parsing each volume's blocks: within ``workers``.
    # Only a volume's own process writes, so the open-file limit is shared among the
    # volumes at once.
    processes, block_workers = plan_workers(workers, len(files))
    processes = min(processes, splitter.max_open_files)
    open_files_per_worker = max(1, splitter.max_open_files // processes)

    build = OutputBuild(output)
    build.start()
    log.info(
        "split %s: %d volumes (%s) into %s, %d at once with %d block workers each, "
        "at most %d open output files each",
        input_set.date,
        len(files),
        " ".join(input_set.volumes),
        output,
        processes,
        block_workers,
        open_files_per_worker,
    )
    try:
        tasks = [
            SplitTask(
                source=source,
                parts_dir=build.parts_dir,
                selector=selector,
                directory=directory,
                max_bad_fraction=config.input.max_bad_fraction,
                log_bad_lines=config.input.log_bad_lines,
                max_open_files=open_files_per_worker,
                compress_level=splitter.compress_level,
                buffer_bytes=splitter.buffer_bytes,
                group_flush_bytes=splitter.group_flush_bytes,
                block_workers=block_workers,
            )
            for source in files
        ]
        results = run_per_volume(
            split_volume,
            tasks,
            [f.volume for f in files],
            processes,
            sum(_size(f.path) for f in files),
            f"split {input_set.date}",
        )
        _warn_unsafe_names(results)
        totals = join_parts(build.temporary, [r.parts for r in results])
        constants = IndexConstants.from_config(splitter)
        groups = write_index(build.temporary, totals.values(), constants, by_id)
        write_getent_files(build.temporary)
        selected = sum(r.selected for r in results)
        skipped = sum(r.skipped + sum(count for _, count in r.unsafe.values()) for r in results)
        log.info(
            "split %s: %d group files, %d records written, %d skipped",
            input_set.date,
            groups,
            selected,
            skipped,
        )
        if groups == 0:
            log.warning(
                "split %s: no record belongs to a selected group; only %s is written",
                input_set.date,
                INDEX_FILE,
            )
        if upload:
            # Imported here: boto3 is slow to import and only needed for the upload.
            from humgen_storage.split.upload import upload_directory

            upload_directory(build.temporary, config.s3, last=(INDEX_FILE,), shown_as=output)
        else:
            log.info("--no-upload: nothing sent to S3")
        build.install()
    except BaseException:
        build.discard()
        raise
    log.info("split %s: complete in %s", input_set.date, output)
    return 0


def _warn_unsafe_names(results: list[VolumeSplit]) -> None:
    skipped: dict[int, tuple[str | None, int]] = {}
    for result in results:
        for gid, (name, count) in result.unsafe.items():
            skipped[gid] = (name, skipped.get(gid, (name, 0))[1] + count)
    for gid, (name, count) in sorted(skipped.items()):
        log.warning(
            "group %r (gid %d) is not a safe file name: its %d records are skipped (--id writes %d.dat.gz)",
            name,
            gid,
            count,
            gid,
        )


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the reader reports the missing file
