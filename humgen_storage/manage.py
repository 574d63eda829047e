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
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.run import driver, layout
from humgen_storage.run.inputs import InputSet
from humgen_storage.run.record import current
from humgen_storage.run.registry import JOBS, managed_job
from humgen_storage.run.volumes import default_workers

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", choices=JOBS, help="the job to run")


def link_latest(report_dir: Path, input_set: InputSet) -> None:
    """Replace ``latest-<volume>.dat.gz`` symlinks atomically (a new link renamed over the old)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for source in input_set.files:
        link = layout.latest_link(report_dir, source.volume)
        temporary = link.with_name(f".{link.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        os.symlink(source.path.absolute(), temporary)
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
            current().nothing_to_do = True
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
