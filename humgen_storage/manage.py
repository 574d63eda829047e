"""manage: run a job on the newest complete set of inputs, once per date.

Cron (through LSF) runs this every night. It finds the job's newest complete set
within ``max_days_ago`` days; none means the crawler has not delivered and someone
must look (exit 1, naming the files missing for each date). When the job's
done-marker for that date exists there is nothing to do (exit 0). Otherwise it points
``<report_dir>/latest-<volume>.dat.gz`` at the chosen files and runs the job, holding
the job's lock throughout. ``--date D`` re-runs a chosen night (the set of D);
``--force`` runs it even when its done-marker exists; ``--dry-run`` says what a run
would read and write and writes nothing. At the end of every run (not a dry run),
``[paths] keep_days`` prunes what the product left behind (run/prune.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
from pathlib import Path
from typing import Any

from humgen_storage.config import Config
from humgen_storage.db import redact
from humgen_storage.errors import UnsafePathError
from humgen_storage.run import driver, layout, prune
from humgen_storage.run.inputs import InputSet, parse_date
from humgen_storage.run.job import Job
from humgen_storage.run.record import current
from humgen_storage.run.registry import JOBS, managed_job
from humgen_storage.run.volumes import default_workers

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", choices=JOBS, help="the job to run")
    parser.add_argument(
        "--date",
        type=parse_date,
        help="re-run this night: the set of YYYY-MM-DD (default: the newest complete set)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="run even when the date's done-marker exists (report: replace the date's rows; "
        "inspect: delete past the deletion guard; split: build again)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what a run would read and write; write nothing (no lock, links or pruning)",
    )


def _check_replaceable_link(link: Path, target: Path) -> None:
    """``link`` may be replaced only when missing or one of ours: a symbolic link into
    the folder of the inputs. Anything else (a file, a folder, a link elsewhere) was
    put there by someone else and is refused, left as it is."""
    try:
        info = os.lstat(link)
    except FileNotFoundError:
        return
    if not stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(
            f"{link} is not a symbolic link the product made; refusing to replace it"
        )
    if Path(os.readlink(link)).parent != target.parent:
        raise UnsafePathError(
            f"{link} points outside {target.parent}; the product did not make it, refusing to replace it"
        )


def link_latest(report_dir: Path, input_set: InputSet) -> None:
    """Replace ``latest-<volume>.dat.gz`` symlinks atomically (a new link, made under a
    name of its own, renamed over the old; rename never follows the link it replaces)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for source in input_set.files:
        link = layout.latest_link(report_dir, source.volume)
        target = source.path.absolute()
        _check_replaceable_link(link, target)
        temporary = link.with_name(f".{link.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)  # a crashed run's (unlink never follows a link)
        os.symlink(target, temporary)
        os.replace(temporary, link)


def run(args: argparse.Namespace, config: Config) -> int:
    job = managed_job(args.job, config, force=args.force)
    if args.dry_run:
        current().dry_run = True
        return dry_run(config, job, args)

    def run_once() -> int:
        input_set = driver.choose_inputs(config, job.name, (), args.date)
        marker = job.done_marker(input_set.date)
        if marker.exists() and not args.force:
            log.info(
                "%s for %s is already done (%s exists); nothing to do (--date %s --force "
                "runs it again)",
                job.name,
                input_set.date,
                marker,
                input_set.date,
            )
            current().nothing_to_do = True
            return 0
        link_latest(config.paths.report_dir, input_set)
        log.info(
            "%s: running on the set of %s (%s)%s",
            job.name,
            input_set.date,
            " ".join(input_set.volumes),
            " with --force" if args.force else "",
        )
        status = driver.run_job(config, job, input_set, default_workers(config.workers))
        if job.name == "report" and status == 0 and not current().nothing_to_do:
            from humgen_storage.feeds.publish import write_feeds
            from humgen_storage.forecast.command import after_report
            from humgen_storage.html.site import write_after_report

            # Each step after the publish degrades the run when it fails, never fails it:
            # the forecast first (the HTML and the feeds show it).
            after_report(config, input_set.date)
            write_after_report(config, input_set.date)  # [html] output_dir
            write_feeds(config, input_set.date)  # [feeds] paths
        return status

    try:
        return driver.run_locked(config, job.name, run_once, managed=True)
    finally:
        prune.prune(config)


def dry_run(config: Config, job: Job[Any, Any], args: argparse.Namespace) -> int:
    """What a run would read and write, on stdout; nothing is written (no lock either:
    the lock file is a write, and a dry run must be safe beside a real one)."""
    input_set = driver.choose_inputs(config, job.name, (), args.date)
    day = input_set.date
    marker = job.done_marker(day)
    out = [f"manage {job.name} --dry-run: the set of {day}"]
    if marker.exists() and not args.force:
        out.append(f"  already done ({marker} exists): a run would do nothing")
    out.append("  would read:")
    out += [f"    {f.path} ({driver.file_size(f.path)} bytes)" for f in input_set.files]
    out.append("  would write:")
    out += [f"    {what}" for what in _writes(config, job.name, input_set, args.force)]
    old = prune.expired(config)
    if old:
        out.append(f"  keep_days ({config.paths.keep_days}) would remove:")
        out += [f"    {path}" for path in old]
    print("\n".join(out), flush=True)
    return 0


def _writes(config: Config, job: str, input_set: InputSet, force: bool) -> list[str]:
    report_dir, day = config.paths.report_dir, input_set.date
    database = redact(config.database.url)
    stamp = layout.day_stamp(day)
    writes = [
        f"{layout.latest_link(report_dir, v)} -> {f.path.absolute()}"
        for v, f in zip(input_set.volumes, input_set.files, strict=True)
    ]
    if job == "report":
        verb = "replacing" if force else "new"
        writes += [
            f"{layout.staging_dir(report_dir, job, day)}/ (staging, removed after)",
            f"table lustre_usage in {database}: {verb} rows of {day} for volumes "
            + " ".join(input_set.volumes),
            f"{layout.report_tsv(report_dir, day)}",
        ]
    elif job == "inspect":
        writes += [
            f"{layout.staging_dir(report_dir, job, day)}/ (staging, removed after)",
            f"tables spaceman, spaceman_tmp in {database}: rows of volumes "
            + " ".join(input_set.volumes)
            + (" (deleting past the deletion guard)" if force else ""),
            f"{layout.inspector_tsv(report_dir, day)}",
        ]
    else:
        writes += [
            f"{config.splitter.output_dir / stamp}/ (group files, index.txt, groupfile, passwdfile)",
            f"s3://{config.s3.bucket}/{config.s3.prefix} (each file of the directory)",
        ]
    return writes
