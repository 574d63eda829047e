"""lsf: what runs inside LSF, and what an admin asks before submitting by hand.

``humgen-storage lsf stage [--volumes LIST] [--date D] [--workers N]`` is one element
of the report's per-volume job array (``bin/report_stage.sh``): it stages the
``$LSB_JOBINDEX``-th volume (1-based) of LIST (commas or spaces; without it, of
``[volumes] report``) by running ``report --stage-only --volume V [--date D] [--workers N]``.
``humgen-storage lsf newest-set JOB`` prints the date (``YYYY-MM-DD``) of JOB's newest
complete set within ``max_days_ago`` days, or says there is none and exits 1.
``humgen-storage lsf done-marker JOB DATE`` prints the path of JOB's done-marker.
``humgen-storage lsf volume JOB [INDEX]`` prints the INDEX-th (1-based; default
``$LSB_JOBINDEX``) of JOB's configured volumes.

The submissions themselves are ``humgen-storage submit`` (``submit/command.py``), built
in ``submit/requests.py`` and run by ``submit/launch.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.errors import JobFailed, UsageError
from humgen_storage.run.inputs import find_set, parse_date
from humgen_storage.run.registry import JOBS, VOLUMES_KEYS, configured_volumes, managed_job
from humgen_storage.submit.requests import split_volume_list, volume_at

log = logging.getLogger(__name__)


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
    stage = sub.add_parser(
        "stage", help="one element of the report's job array: stage the $LSB_JOBINDEX-th volume"
    )
    stage.add_argument(
        "--volumes",
        metavar="LIST",
        help="the volumes the index counts in (default: [volumes] report)",
    )
    # What `report --stage-only` takes besides the volume, passed on as given.
    stage.add_argument("--date", metavar="YYYY-MM-DD", help="the set's date (default: newest)")
    stage.add_argument("--workers", metavar="N", help="processes for the volume's blocks")
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
    for child in (stage, newest, marker, volume):
        _common(child)


def done_marker(config: Config, job: str, day: dt.date) -> Path:
    """JOB's done-marker for ``day``, as the job itself defines it (the registry)."""
    return managed_job(job, config).done_marker(day)


def newest_date(config: Config, job: str, day: dt.date | None = None) -> dt.date:
    volumes = configured_volumes(config, job)
    return find_set(config, volumes, day, f"{VOLUMES_KEYS[job]} volumes").date


def array_index(index: str | None) -> int:
    """The 1-based element index: ``index``, else ``$LSB_JOBINDEX``."""
    if index is None:
        index = os.environ.get("LSB_JOBINDEX")
        if not index:
            raise UsageError(
                "no INDEX given and $LSB_JOBINDEX is not set: run me as an element of an "
                "LSF job array"
            )
    try:
        return int(index)
    except ValueError:
        raise UsageError(f"INDEX {index!r} is not a number") from None


def configured_volume(config: Config, job: str, index: str | None) -> str:
    where = f"[volumes] {VOLUMES_KEYS[job]} of {config.source}"
    return volume_at(configured_volumes(config, job), array_index(index), where)


def run_stage(args: argparse.Namespace, config: Config) -> int:
    number = array_index(None)
    if args.volumes:
        volume = volume_at(split_volume_list(args.volumes), number, f"--volumes {args.volumes}")
    else:
        volume = configured_volume(config, "report", None)
    from humgen_storage.cli import main

    common = ["--config", str(config.source)] + (["-v"] if args.verbose else [])
    passed_on = [
        word
        for option, value in (("--date", args.date), ("--workers", args.workers))
        if value is not None
        for word in (option, value)
    ]
    return main([*common, "report", "--stage-only", "--volume", volume, *passed_on])


def run(args: argparse.Namespace, config: Config) -> int:
    try:
        if args.what == "stage":
            return run_stage(args, config)
        if args.what == "newest-set":
            print(newest_date(config, args.job, args.date).isoformat())
        elif args.what == "done-marker":
            print(done_marker(config, args.job, args.date))
        else:
            print(configured_volume(config, args.job, args.index))
    except JobFailed as exc:
        log.error("%s", exc)  # one line that says it all
        return 1
    return 0
