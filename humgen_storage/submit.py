"""lsf: what the cron scripts ask before they submit (LSF requests, the set's date, volumes).

``humgen-storage lsf settings JOB`` prints shell assignments (``name=value``, quoted
for ``eval``) of what a submission of JOB (``report``, ``inspect`` or ``split``) needs:
``report_dir``, ``log_dir`` (``<report_dir>/<JOB>-logs``), ``group``, ``queue``,
``memory_mb``, ``cores`` and ``volumes``. With ``--array`` (report only) it adds what
``cron/report_cron.sh --array`` needs: ``stage_memory_mb`` and ``stage_cores`` (one
array element), ``set_date`` (the newest complete set's date) and ``done_marker``;
with no complete set it says so and exits 1.

LSF requests come from ``[lsf]``: ``group``, ``queue``, ``report_memory_mb``,
``report_cores``, and optionally ``inspect_memory_mb``, ``inspect_cores``,
``split_memory_mb``, ``split_cores``, ``stage_memory_mb``, ``stage_cores``; a job
without its own keys takes the report's, except that an array element takes one core
(it reads one volume in one process). The environment wins over the file for every
job: ``HUMGEN_LSF_GROUP``, ``HUMGEN_LSF_QUEUE``, ``HUMGEN_LSF_MEMORY_MB``,
``HUMGEN_LSF_CORES``.

``humgen-storage lsf newest-set JOB`` prints the date (``YYYY-MM-DD``) of JOB's newest
complete set within ``max_days_ago`` days, or says there is none and exits 1.
``humgen-storage lsf done-marker JOB DATE`` prints the path of JOB's done-marker.
``humgen-storage lsf volume JOB [INDEX]`` prints the INDEX-th (1-based; default
``$LSB_JOBINDEX``) of JOB's configured volumes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.errors import JobFailed, UsageError
from humgen_storage.run import layout
from humgen_storage.run.inputs import find_set, parse_date
from humgen_storage.run.registry import JOBS, configured_volumes, managed_job
from humgen_storage.run.registry import VOLUMES_KEYS as _VOLUME_KEYS

log = logging.getLogger(__name__)

STAGE = "stage"  # one element of the report's per-volume job array

ENV_GROUP = "HUMGEN_LSF_GROUP"
ENV_QUEUE = "HUMGEN_LSF_QUEUE"
ENV_MEMORY = "HUMGEN_LSF_MEMORY_MB"
ENV_CORES = "HUMGEN_LSF_CORES"


def _common(parser: argparse.ArgumentParser) -> None:
    # As on every subcommand: --config and -v may also come last.
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="configuration file"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show debug logs"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    settings = sub.add_parser("settings", help="shell assignments for one submission of JOB")
    settings.add_argument("job", choices=JOBS)
    settings.add_argument(
        "--array",
        action="store_true",
        help="report only: add the array elements' requests, the set's date and its done-marker",
    )
    newest = sub.add_parser("newest-set", help="the date of JOB's newest complete set")
    newest.add_argument("job", choices=JOBS)
    newest.add_argument(
        "--date", type=parse_date, help="only check that this date's set is complete"
    )
    marker = sub.add_parser("done-marker", help="the path of JOB's done-marker for DATE")
    marker.add_argument("job", choices=JOBS)
    marker.add_argument("date", type=parse_date, metavar="DATE")
    volume = sub.add_parser("volume", help="the INDEX-th volume of JOB (1-based)")
    volume.add_argument("job", choices=JOBS)
    volume.add_argument("index", nargs="?", help="default: $LSB_JOBINDEX")
    for child in (settings, newest, marker, volume):
        _common(child)


@dataclass(frozen=True)
class Resources:
    group: str
    queue: str
    memory_mb: int
    cores: int


def _positive(value: str, where: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number < 1:
        raise JobFailed(f"{where}: expected a positive whole number, got {value!r}")
    return number


def resources(config: Config, job: str, environ: Mapping[str, str] = os.environ) -> Resources:
    """LSF requests for ``job`` (or ``stage``): ``[lsf]`` keys, then the environment."""
    memory, cores = config.lsf.request(job)
    if environ.get(ENV_MEMORY):
        memory = _positive(environ[ENV_MEMORY], f"${ENV_MEMORY}")
    if environ.get(ENV_CORES):
        cores = _positive(environ[ENV_CORES], f"${ENV_CORES}")
    return Resources(
        group=environ.get(ENV_GROUP) or config.lsf.group,
        queue=environ.get(ENV_QUEUE) or config.lsf.queue,
        memory_mb=memory,
        cores=cores,
    )


def log_dir(config: Config, job: str) -> Path:
    return layout.log_dir(config.paths.report_dir, job)


def done_marker(config: Config, job: str, day: dt.date) -> Path:
    return managed_job(job, config).done_marker(day)


def settings(
    config: Config, job: str, array: bool = False, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    wanted = resources(config, job, environ)
    values = {
        "report_dir": str(config.paths.report_dir),
        "log_dir": str(log_dir(config, job)),
        "group": wanted.group,
        "queue": wanted.queue,
        "memory_mb": str(wanted.memory_mb),
        "cores": str(wanted.cores),
        "volumes": " ".join(configured_volumes(config, job)),
    }
    if array:
        if job != "report":
            raise UsageError("--array is for the report only")
        stage = resources(config, STAGE, environ)
        day = newest_date(config, job)
        values.update(
            stage_memory_mb=str(stage.memory_mb),
            stage_cores=str(stage.cores),
            set_date=day.isoformat(),
            done_marker=str(done_marker(config, job, day)),
        )
    return values


def newest_date(config: Config, job: str, day: dt.date | None = None) -> dt.date:
    volumes = configured_volumes(config, job)
    return find_set(config, volumes, day, f"{_VOLUME_KEYS[job]} volumes").date


def volume_at(config: Config, job: str, index: str | None) -> str:
    volumes = configured_volumes(config, job)
    if index is None:
        index = os.environ.get("LSB_JOBINDEX")
        if not index:
            raise UsageError(
                "no INDEX given and $LSB_JOBINDEX is not set (not an LSF array element?)"
            )
    try:
        number = int(index)
    except ValueError:
        raise UsageError(f"INDEX {index!r} is not a number") from None
    if not 1 <= number <= len(volumes):
        raise JobFailed(
            f"array index {number} is outside 1-{len(volumes)}: [volumes] {_VOLUME_KEYS[job]} of "
            f"{config.source} lists {' '.join(volumes) or 'nothing'}"
        )
    return volumes[number - 1]


def run(args: argparse.Namespace, config: Config) -> int:
    try:
        if args.what == "settings":
            values = settings(config, args.job, array=args.array)
            print("\n".join(f"{name}={shlex.quote(value)}" for name, value in values.items()))
        elif args.what == "newest-set":
            print(newest_date(config, args.job, args.date).isoformat())
        elif args.what == "done-marker":
            print(done_marker(config, args.job, args.date))
        else:
            print(volume_at(config, args.job, args.index))
    except JobFailed as exc:
        log.error("%s", exc)  # one line that says it all; the scripts show it as it is
        return 1
    return 0
