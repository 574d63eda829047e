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

EXIT_DEGRADED = 3


@dataclass
class InputRecord:
    """One input file as the run found it."""

    name: str
    size: int
    mtime: float


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
    outcome: str = "running"
    exit_status: int | None = None

    def degrade(self, what: str) -> None:
        """Something a person must look at; the run still publishes (exit status 3)."""
        self.needs_a_person.append(what)

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


def current() -> RunRecord:
    """The record of the run in progress; a throwaway one when the library is used
    without the command line, so callers never need to check."""
    global _current
    if _current is None:
        _current = RunRecord(command="library")
    return _current
