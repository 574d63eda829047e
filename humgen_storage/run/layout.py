"""Every path the jobs keep under ``report_dir``, named in one place.

``report_dir/``
  ``report-output-files/``   the TSVs: ``report-<D>.tsv`` and ``inspector-<D>.tsv``
                             (each is its job's done-marker), and the report's
                             ``users-<D>.tsv``
  ``.staging/<job>-<D>/``    one run's staging area: ``directory.db`` and
                             ``volume-<V>.db``; the report's keeps the bare ``<D>``
                             that SPEC section 4 names
  ``.locks/<job>.lock``      the job's flock
  ``latest-<V>.dat.gz``      the manager's links to the set it ran on
  ``<job>-logs/``            the cron helpers' LSF output

``[splitter] output_dir/``
  ``<D>/``                   the split's group files, index and getent files, renamed
                             into place when built
  ``<D>/.uploaded``          written after the last object is in S3: the split's
                             done-marker (a ``--no-upload`` build has none)

``<D>`` is the date as ``%Y%m%d``, the same stamp the crawler puts in input names.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from humgen_storage.config import Config

DAY_FORMAT = "%Y%m%d"

# The job whose staging area is named by the date alone (SPEC section 4 fixes it).
_BARE_STAGING = "report"


def day_stamp(day: dt.date) -> str:
    return day.strftime(DAY_FORMAT)


def output_files_dir(report_dir: Path) -> Path:
    """Where the TSVs (and so two of the three done-markers) live."""
    return report_dir / "report-output-files"


def report_tsv(report_dir: Path, day: dt.date) -> Path:
    return output_files_dir(report_dir) / f"report-{day_stamp(day)}.tsv"


def users_tsv(report_dir: Path, day: dt.date) -> Path:
    """The report's per-user table, beside its TSV (issue 18)."""
    return output_files_dir(report_dir) / f"users-{day_stamp(day)}.tsv"


def inspector_tsv(report_dir: Path, day: dt.date) -> Path:
    return output_files_dir(report_dir) / f"inspector-{day_stamp(day)}.tsv"


UPLOADED_MARKER = ".uploaded"


def split_output(output_dir: Path, day: dt.date) -> Path:
    """The split's dated output directory."""
    return output_dir / day_stamp(day)


def uploaded_marker(split_dir: Path) -> Path:
    """The split's done-marker in a built directory: every file of it is in S3."""
    return split_dir / UPLOADED_MARKER


def staging_root(report_dir: Path) -> Path:
    return report_dir / ".staging"


def staging_dir(report_dir: Path, job: str, day: dt.date, private: bool = False) -> Path:
    """One run's staging area. ``private``: for a run without the job's lock (a plain
    ``inspect``), which must not share, or discard, a locked run's area."""
    name = day_stamp(day) if job == _BARE_STAGING else f"{job}-{day_stamp(day)}"
    if private:
        name += f".{os.getpid()}"
    return staging_root(report_dir) / name


def lock_dir(config: Config) -> Path:
    """Where the jobs' lock files live (``job_lock`` names them ``<job>.lock``)."""
    return config.paths.report_dir / ".locks"


def latest_link(report_dir: Path, volume: str) -> Path:
    return report_dir / f"latest-{volume}.dat.gz"


def log_dir(report_dir: Path, job: str) -> Path:
    return report_dir / f"{job}-logs"
