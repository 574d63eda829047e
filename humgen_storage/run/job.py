"""The contracts of the run frame, as ``typing.Protocol``s that mypy checks.

A job (report, inspect, split) says what one volume's stage is and how the staged
volumes are published; ``run.driver`` does everything around it, the same way for
every job: the lock, the input set, the group directory (loaded once, before any
volume is read, and staged for the tasks to read), the plan of processes, one task
per volume in a pool, and publishing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from humgen_storage.mpistat.files import InputFile
from humgen_storage.run.aggregate import Partial
from humgen_storage.run.staging import StagingArea

Task = TypeVar("Task")  # what one volume's stage needs: small, frozen, picklable
Staged = TypeVar("Staged")  # what a stage hands back to the parent
Result = TypeVar("Result", covariant=True)


class PartialAggregate(Partial, Protocol[Result]):
    """A per-volume aggregate: blocks folded in (``add_block``), partials from other
    processes merged exactly (``merge``), then the volume's result (``finish``)."""

    def finish(self) -> Result: ...


@dataclass(frozen=True)
class VolumePlan:
    """What the driver decided for one run, given to the job to make its tasks."""

    day: dt.date
    files: tuple[InputFile, ...]
    area: StagingArea
    volumes_at_once: int
    block_workers: int  # processes parsing each volume's blocks (run/blocks.py)


class Job(Protocol[Task, Staged]):
    """One job, as the driver runs it."""

    @property
    def name(self) -> str:
        """The job's word: the command, the lock, the staging folder, the logs."""
        ...

    @property
    def volumes_key(self) -> str:
        """Its key in ``[volumes]``."""
        ...

    @property
    def needs_directory(self) -> bool:
        """Whether the stages or the publishing look groups up."""
        ...

    @property
    def stages_in_sqlite(self) -> bool:
        """Whether each stage leaves ``volume-<V>.db`` in the area (``--stage-only``
        and ``--finalise`` are for these jobs)."""
        ...

    @property
    def max_volumes_at_once(self) -> int:
        """A ceiling on the volumes run side by side, beyond the processes given."""
        ...

    def done_marker(self, day: dt.date) -> Path:
        """The path whose presence tells the manager the job ran for ``day``."""
        ...

    def already_done(self, day: dt.date) -> bool:
        """True (having said so) when ``day`` needs no run; checked under the lock."""
        ...

    def volume_tasks(self, plan: VolumePlan) -> Sequence[Task]:
        """One task per file of ``plan``, in its order."""
        ...

    @staticmethod
    def stage_volume(task: Task) -> Staged:
        """Read one volume and stage it; runs in a pool worker (a module-level function)."""
        ...

    def publish(
        self, area: StagingArea, day: dt.date, volumes: Sequence[str], staged: Sequence[Staged]
    ) -> int:
        """Write what the staged volumes make (database, TSV, upload); the exit status."""
        ...

    def abandon(self) -> None:
        """Remove what ``volume_tasks`` prepared outside the staging area (a failed run)."""
        ...
