"""The jobs by name: the list, their ``[volumes]`` keys, and their managed form.

Light to import (the cron helpers and ``--version`` use it): the job modules, which
bring numpy, are imported only when a job is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from humgen_storage.config import Config
    from humgen_storage.run.job import Job

JOBS = ("report", "inspect", "split")

# The job's word -> its key in [volumes] (the spec names the keys).
VOLUMES_KEYS = {"report": "report", "inspect": "inspector", "split": "splitter"}


def configured_volumes(config: Config, job: str) -> tuple[str, ...]:
    """The volumes ``[volumes]`` lists for ``job``."""
    volumes: tuple[str, ...] = getattr(config.volumes, VOLUMES_KEYS[job])
    return volumes


def managed_job(job: str, config: Config, force: bool = False) -> Job[Any, Any]:
    """``job`` as the manager runs it: the whole set, default options, done-marker last.
    ``force`` (``manage --force``): the report replaces the date's rows, inspect deletes
    past its deletion guard; the split rebuilds whenever it runs."""
    if job == "report":
        from humgen_storage.report.job import ReportJob

        return ReportJob(config, force=force)
    if job == "inspect":
        from humgen_storage.inspect.job import InspectJob

        return InspectJob.managed(config, force=force)
    if job == "split":
        from humgen_storage.split.job import SplitJob

        return SplitJob.managed(config)
    raise KeyError(job)
