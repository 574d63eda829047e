"""What one run did: the record a person reads the morning after (SPEC §8, §12).

The command line begins one record per command (``begin``); the run frame and the
jobs fill it in the main process (pool workers are other processes: what they learn
comes back with their staged volume and is recorded here). ``degrade`` notes what
needs a person: a run that published with such notes ends with exit status 3, and
the notes are the last lines of its log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from humgen_storage.config import Config

EXIT_DEGRADED = 3


@dataclass
class InputRecord:
    """One input file as the run found it (size and mtime None: it was not there)."""

    name: str
    size: int | None
    mtime: float | None


@dataclass
class VolumeCounts:
    lines: int = 0
    malformed: int = 0


@dataclass
class RunRecord:
    command: str
    job: str | None = None
    started: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    date: str | None = None  # the set's date, YYYY-MM-DD
    inputs: list[InputRecord] = field(default_factory=list)
    volumes: dict[str, VolumeCounts] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    groups_skipped: list[str] = field(default_factory=list)
    quota_failures: list[str] = field(default_factory=list)
    not_uploaded: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    needs_a_person: list[str] = field(default_factory=list)
    nothing_to_do: bool = False
    dry_run: bool = False  # manage --dry-run: writes nothing, not even its own record
    outcome: str = "running"
    exit_status: int | None = None
    finished: float | None = None
    # Where the run's manifest and metrics go: set once the configuration is loaded
    # (a run that fails before that leaves none).
    config: Config | None = field(default=None, repr=False)
    # A part of a run (an LSF array element's ``--stage-only``), or a run that writes
    # nothing shared (``inspect`` without ``--tosql``): a manifest, but no metrics, so
    # monitoring sees the job's own runs only.
    part: str | None = None
    monitored: bool = True

    def degrade(self, what: str) -> None:
        """Something a person must look at; the run still publishes (exit status 3)."""
        self.needs_a_person.append(what)

    def count_volume(self, volume: str, lines: int, malformed: int) -> None:
        """Lines read and malformed lines of a volume's input (one file per volume)."""
        self.volumes[volume] = VolumeCounts(lines, malformed)

    def merge(self, part: RunRecord) -> None:
        """Take in what a volume's task recorded in a pool worker (``task_record``)."""
        self.volumes.update(part.volumes)
        for name, rows in part.rows_written.items():
            self.rows_written[name] = self.rows_written.get(name, 0) + rows
        self.groups_skipped.extend(part.groups_skipped)
        self.quota_failures.extend(part.quota_failures)
        self.not_uploaded.extend(part.not_uploaded)
        self.needs_a_person.extend(part.needs_a_person)

    @property
    def degraded(self) -> bool:
        return bool(self.needs_a_person)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run (directory, read, publish...)."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.durations[name] = self.durations.get(name, 0.0) + time.monotonic() - start

    def finish(self, exit_status: int) -> None:
        self.finished = time.time()
        self.exit_status = exit_status
        if exit_status == 0:
            self.outcome = "nothing to do" if self.nothing_to_do else "success"
        elif exit_status == EXIT_DEGRADED:
            self.outcome = "degraded"
        elif exit_status == 130 or exit_status == 143:
            self.outcome = "interrupted"
        elif exit_status == 2:
            self.outcome = "usage error"
        else:
            self.outcome = "failed"


_current: RunRecord | None = None


def begin(command: str, job: str | None = None) -> RunRecord:
    """Start the record of a new run (the command line calls this once per command)."""
    global _current
    _current = RunRecord(command=command, job=job)
    return _current


@contextmanager
def task_record(label: str) -> Iterator[RunRecord]:
    """A fresh record for one volume's task while it runs (in a pool worker, or here);
    the run's own record is put back after. What the task notes (``current()``) comes
    back to the parent in this record, which ``RunRecord.merge`` takes in."""
    global _current
    saved = _current
    _current = RunRecord(command=label)
    try:
        yield _current
    finally:
        _current = saved


def current() -> RunRecord:
    """The record of the run in progress; a throwaway one when the library is used
    without the command line, so callers never need to check."""
    global _current
    if _current is None:
        _current = RunRecord(command="library")
    return _current
