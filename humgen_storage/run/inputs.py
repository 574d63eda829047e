"""Finding input sets: one mpistat file per configured volume for one date."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.errors import InputError, JobFailed, UsageError
from humgen_storage.mpistat.files import InputFile


@dataclass(frozen=True)
class InputSet:
    """The files of one job for one date, in the configured volume order."""

    date: dt.date
    files: tuple[InputFile, ...]

    @property
    def volumes(self) -> tuple[str, ...]:
        return tuple(f.volume for f in self.files)


def set_for_date(mpistat_dir: Path, volumes: Sequence[str], day: dt.date) -> InputSet | None:
    """The complete set for ``day``, or None when a volume's file is missing."""
    if missing_files(mpistat_dir, volumes, day):
        return None
    return InputSet(day, tuple(InputFile.expected(mpistat_dir, day, v) for v in volumes))


def missing_files(mpistat_dir: Path, volumes: Sequence[str], day: dt.date) -> list[InputFile]:
    """The files of ``day``'s set that are not there, in volume order."""
    files = [InputFile.expected(mpistat_dir, day, volume) for volume in volumes]
    return [f for f in files if not f.path.is_file()]


def missing_by_date(
    mpistat_dir: Path, volumes: Sequence[str], max_days_ago: int, today: dt.date | None = None
) -> list[str]:
    """One line per date looked at (newest first): which volumes' files are missing.

    What a person needs when no set is complete: which crawl did not arrive, and when."""
    today = today or dt.date.today()
    lines = []
    for days_ago in range(max_days_ago):
        day = today - dt.timedelta(days=days_ago)
        missing = missing_files(mpistat_dir, volumes, day)
        names = " ".join(f.path.name for f in missing)
        shown = " ".join(f.volume for f in missing)
        lines.append(f"{day}: missing volume{'s' if len(missing) > 1 else ''} {shown} ({names})")
    return lines


def newest_complete_set(
    mpistat_dir: Path, volumes: Sequence[str], max_days_ago: int, today: dt.date | None = None
) -> InputSet | None:
    """The complete set with the latest date among today, today - 1, ... (max_days_ago days)."""
    if not volumes:
        return None
    today = today or dt.date.today()
    for days_ago in range(max_days_ago):
        found = set_for_date(mpistat_dir, volumes, today - dt.timedelta(days=days_ago))
        if found is not None:
            return found
    return None


def find_set(config: Config, volumes: Sequence[str], day: dt.date | None, what: str) -> InputSet:
    """The set of ``day``, else the newest complete set; JobFailed (exit 1) when there is none.

    ``what`` names the volumes in messages, e.g. "report volumes".
    """
    mpistat_dir = config.paths.mpistat_dir
    shown = " ".join(volumes)
    if not volumes:
        raise JobFailed(f"{config.source}: no {what} are configured in [volumes]")
    if day is not None:
        found = set_for_date(mpistat_dir, volumes, day)
        if found is None:
            missing = missing_files(mpistat_dir, volumes, day)
            raise JobFailed(
                f"the set of {day} of {what} ({shown}) in {mpistat_dir} is not complete: "
                f"missing {' '.join(f.path.name for f in missing)}"
            )
        return found
    newest = newest_complete_set(mpistat_dir, volumes, config.paths.max_days_ago)
    if newest is None:
        raise JobFailed(
            f"no complete set of {what} ({shown}) in {mpistat_dir} within the last "
            f"{config.paths.max_days_ago} days: the crawler has not delivered; someone must look",
            missing_by_date(mpistat_dir, volumes, config.paths.max_days_ago),
        )
    return newest


def set_from_files(paths: Sequence[str | Path], day: dt.date | None) -> InputSet:
    """Files named on the command line: the date is ``day`` or else their common date."""
    try:
        files = tuple(InputFile.from_path(path) for path in paths)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    # A FILE named on the command line that is not there is the person's mistake to
    # hear about (exit 1), never a run with nothing to do.
    absent = [f for f in files if not f.path.is_file()]
    if absent:
        raise JobFailed(
            f"{len(absent)} of the FILEs given {'is' if len(absent) == 1 else 'are'} not there",
            [f"{f.path}: file not found" for f in absent],
        )
    seen: set[str] = set()
    for f in files:
        if f.volume in seen:
            raise UsageError(f"two files for volume {f.volume}: give one file per volume")
        seen.add(f.volume)
    if day is None:
        dates = {f.date for f in files}
        if len(dates) != 1:
            shown = ", ".join(sorted(d.isoformat() for d in dates))
            raise UsageError(f"the files have different dates ({shown}); say which with --date")
        day = dates.pop()
    return InputSet(day, files)


def add_input_arguments(parser: argparse.ArgumentParser, files: bool = True) -> None:
    """The options every job takes to choose its inputs and its processes."""
    if files:
        parser.add_argument(
            "files",
            nargs="*",
            metavar="FILE",
            help="mpistat files (default: the newest complete set)",
        )
    parser.add_argument(
        "--date",
        type=parse_date,
        help="the set's date, YYYY-MM-DD (default: the newest complete set)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="processes to use (default: [jobs] workers, else the cores LSF gave, else all)",
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def parse_date(text: str) -> dt.date:
    """argparse type for --date YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
