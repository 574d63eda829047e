"""submit: what cron runs: submit a job's manager to LSF, or run it here.

``humgen-storage submit JOB`` (``report``, ``inspect`` or ``split``) submits
``bin/<JOB's manager>.sh --config FILE`` with ``bsub``; with ``--local``, or when no
``bsub`` is on PATH, it runs it here, its output appended to
``<report_dir>/<JOB>-logs/<YYYY-MM-DD>.local-<pid>.out`` and ``.err``, and exits with
its status. ``submit report --array`` submits the newest complete set's report as one
LSF job array of per-volume stages and a finaliser that waits for it.

LSF requests come from ``[lsf]``: ``group``, ``queue``, ``report_memory_mb``,
``report_cores``, and optionally ``inspect_memory_mb``, ``inspect_cores``,
``split_memory_mb``, ``split_cores``, ``stage_memory_mb``, ``stage_cores``; a job
without its own keys takes the report's, except that an array element takes one core
(it reads one volume in one process). The environment wins over the file for every
job: ``HUMGEN_LSF_GROUP``, ``HUMGEN_LSF_QUEUE``, ``HUMGEN_LSF_MEMORY_MB``,
``HUMGEN_LSF_CORES``. Logs: ``<report_dir>/<JOB>-logs/<YYYY-MM-DD>.%J.out`` and
``.err`` (``%J`` is LSF's job id). Only the configuration's path goes on a command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.errors import JobFailed, UsageError
from humgen_storage.run.registry import JOBS
from humgen_storage.run.safe_files import make_directories
from humgen_storage.submit import done_marker, newest_date
from humgen_storage.submit.launch import bsub_on_path, run_here, submit
from humgen_storage.submit.requests import ArrayPlan, array_plan, log_dir, manager_submission

log = logging.getLogger(__name__)

# Set by bin/humgen_storage.sh to its own folder, so a submission names this checkout's
# scripts even when the package is installed elsewhere.
SCRIPTS_ENV = "HUMGEN_STORAGE_SCRIPTS"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", choices=JOBS, help="the job whose manager to submit")
    parser.add_argument(
        "--local",
        action="store_true",
        help="run here instead of submitting (also when bsub is not on PATH)",
    )
    parser.add_argument(
        "--array",
        action="store_true",
        help="report only: stage each volume in an element of one LSF job array, then "
        "load them all with a finaliser that waits for the array",
    )


def scripts_dir() -> Path:
    from_env = os.environ.get(SCRIPTS_ENV)
    if from_env:
        return Path(from_env)
    return Path(__file__).resolve().parents[2] / "bin"


def run(args: argparse.Namespace, config: Config) -> int:
    job: str = args.job
    if args.array and job != "report":
        raise UsageError("--array is for the report only")
    label = f"submit {job}"
    today = dt.date.today()
    scripts = scripts_dir()
    # Every request is built (and any bad setting refused) before anything runs.
    if args.array:
        date = newest_date(config, job)
        marker = done_marker(config, job, date)
        if marker.exists():
            print(f"{label}: the report of {date} is already done ({marker} exists); nothing to do")
            return 0
        plan = array_plan(config, date, scripts, today)
    else:
        submission = manager_submission(config, job, scripts, today)
    logs = log_dir(config, job)
    make_directories(config.paths.report_dir, logs)  # LSF does not create it
    here = args.local
    if not here and not bsub_on_path():
        log.warning("%s: bsub is not on PATH; running here", label)
        here = True

    if args.array:
        return _run_array_here(label, plan, logs, today) if here else _submit_array(label, plan)
    if here:
        local = f"{today.isoformat()}.local-{os.getpid()}"
        return run_here(label, submission.command, logs / f"{local}.out", logs / f"{local}.err")
    job_id = submit(submission)
    print(f"{label}: logs in {logs}/{today.isoformat()}.{job_id or '%J'}.out and .err")
    return 0


def _submit_array(label: str, plan: ArrayPlan) -> int:
    array_id = submit(plan.stage)
    finaliser_id = submit(plan.finalise)
    print(
        f"{label}: the report of {plan.date}: {len(plan.volumes)} volumes in job array "
        f"{array_id or '?'} ({plan.stage.name}), finaliser job {finaliser_id or '?'} after it; "
        f"logs in {plan.stage.out.parent}"
    )
    return 0


def _run_array_here(label: str, plan: ArrayPlan, logs: Path, today: dt.date) -> int:
    """The array's elements one after another (as LSF would, with ``$LSB_JOBINDEX``), then
    the finaliser only if every element staged its volume."""
    local = f"{today.isoformat()}.local-{os.getpid()}"
    failed = []
    for index, volume in enumerate(plan.volumes, start=1):
        status = run_here(
            label,
            plan.stage.command,
            logs / f"{local}.{index}.out",
            logs / f"{local}.{index}.err",
            {"LSB_JOBINDEX": str(index)},
        )
        if status != 0:
            failed.append(volume)
    if failed:
        raise JobFailed(
            f"{len(failed)} of {len(plan.volumes)} volumes were not staged: "
            f"{' '.join(failed)}; the finaliser was not run"
        )
    return run_here(label, plan.finalise.command, logs / f"{local}.out", logs / f"{local}.err")
