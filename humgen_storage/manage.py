"""manage: run a job on the newest complete set of inputs, once per date.

Cron (through LSF) runs this every night. It finds the job's newest complete set
within ``max_days_ago`` days; none means the crawler has not delivered and someone
must look (exit 1). When the job's done-marker for that date exists there is nothing
to do (exit 0). Otherwise it points ``<report_dir>/latest-<volume>.dat.gz`` at the
chosen files and runs the job, holding the job's lock throughout.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.errors import UnsafePathError
from humgen_storage.run import driver, layout
from humgen_storage.run.inputs import InputSet
from humgen_storage.run.registry import JOBS, managed_job
from humgen_storage.run.volumes import default_workers

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", choices=JOBS, help="the job to run")


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
    job = managed_job(args.job, config)

    def run_once() -> int:
        input_set = driver.choose_inputs(config, job.name, (), None)
        marker = job.done_marker(input_set.date)
        if marker.exists():
            log.info(
                "%s for %s is already done (%s exists); nothing to do",
                job.name,
                input_set.date,
                marker,
            )
            return 0
        link_latest(config.paths.report_dir, input_set)
        log.info(
            "%s: running on the set of %s (%s)",
            job.name,
            input_set.date,
            " ".join(input_set.volumes),
        )
        return driver.run_job(config, job, input_set, default_workers(config.workers))

    return driver.run_locked(config, job.name, run_once)
