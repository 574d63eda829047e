"""The ``bsub`` argument lists of every submission, built as data (no shell, no I/O).

What cron submits is decided here, so that it can be tested without LSF: the requests
(group, queue, memory, cores) from ``[lsf]`` and the environment, the job names, the
log paths, the report's per-volume array and the finaliser's ``ended()`` dependency.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.errors import JobFailed
from humgen_storage.run import layout
from humgen_storage.run.registry import configured_volumes

STAGE = "stage"  # one element of the report's per-volume job array

ENV_GROUP = "HUMGEN_LSF_GROUP"
ENV_QUEUE = "HUMGEN_LSF_QUEUE"
ENV_MEMORY = "HUMGEN_LSF_MEMORY_MB"
ENV_CORES = "HUMGEN_LSF_CORES"

# The bin/ wrapper each job's cron script submits (names fixed by the spec).
MANAGER_SCRIPTS = {
    "report": "reportmanager.sh",
    "inspect": "inspector_manager.sh",
    "split": "group_splitter_manager.sh",
}
STAGE_SCRIPT = "report_stage.sh"
COMMAND_SCRIPT = "humgen_storage.sh"

# Words LSF's shell reads as themselves; anything else is quoted (see lsf_word).
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:=+,@%-]+")


@dataclass(frozen=True)
class Resources:
    group: str
    queue: str
    memory_mb: int
    cores: int


@dataclass(frozen=True)
class Submission:
    """One ``bsub`` call: a job (or job array) with its requests, logs and command."""

    name: str
    resources: Resources
    out: Path
    err: Path
    command: tuple[str, ...]
    dependency: str | None = None

    def argv(self) -> list[str]:
        """``bsub`` and its arguments, the command's words quoted for LSF's shell."""
        memory = self.resources.memory_mb
        args = [
            "bsub",
            "-G", self.resources.group,
            "-q", self.resources.queue,
            "-M", str(memory),
            "-R", f"select[mem>{memory}] rusage[mem={memory}] span[hosts=1]",
            "-n", str(self.resources.cores),
            "-J", self.name,
            "-o", str(self.out),
            "-e", str(self.err),
        ]  # fmt: skip
        if self.dependency:
            args += ["-w", self.dependency]
        return args + [lsf_word(word) for word in self.command]


@dataclass(frozen=True)
class ArrayPlan:
    """The report as an array of per-volume stages and a finaliser that waits for it."""

    date: dt.date
    volumes: tuple[str, ...]
    stage: Submission
    finalise: Submission


def lsf_word(word: str) -> str:
    """``word`` as LSF's shell must see it: LSF joins the command's words and runs them
    with a shell, so a word with a character that shell would interpret is quoted."""
    if _PLAIN_WORD.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


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


def config_argument(config: Config) -> str:
    """The configuration's path made absolute (its folder resolved, as ``pwd -P`` does),
    so the job finds it whatever directory LSF starts it in."""
    source = Path(config.source)
    return str(Path(os.path.abspath(source.parent)).resolve() / source.name)


def manager_submission(
    config: Config,
    job: str,
    scripts: Path,
    today: dt.date,
    environ: Mapping[str, str] = os.environ,
) -> Submission:
    """The nightly manager of ``job`` as one LSF job."""
    logs = log_dir(config, job)
    return Submission(
        name=f"humgen-{job}",
        resources=resources(config, job, environ),
        out=logs / f"{today.isoformat()}.%J.out",
        err=logs / f"{today.isoformat()}.%J.err",
        command=(str(scripts / MANAGER_SCRIPTS[job]), "--config", config_argument(config)),
    )


def stage_array_name(date: dt.date) -> str:
    return f"humgen-report-stage-{date.isoformat()}"


def array_plan(
    config: Config,
    date: dt.date,
    scripts: Path,
    today: dt.date,
    environ: Mapping[str, str] = os.environ,
) -> ArrayPlan:
    """The report of ``date`` as a job array (element i stages the i-th volume) and a
    finaliser submitted with ``ended(<array>)``: it starts once every element has ended,
    however it ended, and then loads every volume or fails naming those not staged.
    (With ``done()`` a failed element left the finaliser pending for ever.)"""
    volumes = configured_volumes(config, "report")
    if not volumes:
        raise JobFailed("[volumes] report lists no volumes")
    logs = log_dir(config, "report")
    stamp = today.isoformat()
    name = stage_array_name(date)
    config_path = config_argument(config)
    # The elements get the volume list as it is now, so that element i stages the i-th
    # volume even if the configuration changes while the array waits in the queue.
    stage = Submission(
        name=f"{name}[1-{len(volumes)}]",
        resources=resources(config, STAGE, environ),
        out=logs / f"{stamp}.%J.%I.out",
        err=logs / f"{stamp}.%J.%I.err",
        command=(
            str(scripts / STAGE_SCRIPT),
            "--config",
            config_path,
            "--date",
            date.isoformat(),
            "--volumes",
            ",".join(volumes),
        ),  # fmt: skip
    )
    finalise = Submission(
        name=f"humgen-report-finalise-{date.isoformat()}",
        resources=resources(config, "report", environ),
        out=logs / f"{stamp}.%J.out",
        err=logs / f"{stamp}.%J.err",
        command=(
            str(scripts / COMMAND_SCRIPT),
            "--config",
            config_path,
            "report",
            "--finalise",
            "--date",
            date.isoformat(),
        ),  # fmt: skip
        dependency=f"ended({name})",
    )
    return ArrayPlan(date=date, volumes=volumes, stage=stage, finalise=finalise)


def split_volume_list(text: str) -> list[str]:
    """``--volumes`` as the array element got it: commas or spaces between volumes."""
    return [volume for volume in re.split(r"[,\s]+", text) if volume]


def volume_at(volumes: Sequence[str], index: int, where: str) -> str:
    """The ``index``-th (1-based, as ``$LSB_JOBINDEX``) of ``volumes``."""
    if not 1 <= index <= len(volumes):
        raise JobFailed(
            f"array index {index} is outside 1-{len(volumes)}: {where} lists "
            f"{' '.join(volumes) or 'nothing'}"
        )
    return volumes[index - 1]
