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
from types import ModuleType

from humgen_storage.config import Config
from humgen_storage.run.inputs import InputSet, find_set
from humgen_storage.run.locking import job_lock, lock_dir

log = logging.getLogger(__name__)

JOBS = ("report", "inspect", "split")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", choices=JOBS, help="the job to run")


def job_module(job: str) -> ModuleType:
    from humgen_storage.inspect import job as inspect
    from humgen_storage.report import job as report
    from humgen_storage.split import job as split

    return {"report": report, "inspect": inspect, "split": split}[job]


def link_latest(report_dir: Path, input_set: InputSet) -> None:
    """Replace ``latest-<volume>.dat.gz`` symlinks atomically (a new link renamed over the old)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for source in input_set.files:
        link = report_dir / f"latest-{source.volume}.dat.gz"
        temporary = report_dir / f".latest-{source.volume}.dat.gz.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(source.path.absolute(), temporary)
        os.replace(temporary, link)


def run(args: argparse.Namespace, config: Config) -> int:
    job = args.job
    module = job_module(job)
    with job_lock(lock_dir(config), job) as held_by:
        if held_by:
            log.info(
                "%s: the lock is held (%s); another run is working, nothing to do", job, held_by
            )
            return 0
        input_set = find_set(config, config.volumes.for_job(job), None, f"volumes for {job}")
        marker = module.done_marker(config, input_set.date)
        if marker.exists():
            log.info(
                "%s for %s is already done (%s exists); nothing to do", job, input_set.date, marker
            )
            return 0
        link_latest(config.paths.report_dir, input_set)
        log.info(
            "%s: running on the set of %s (%s)", job, input_set.date, " ".join(input_set.volumes)
        )
        return int(module.run_managed(config, input_set))
