"""What changed between two nights: the groups, users and directories whose bytes or files moved most."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass

from humgen_storage.changes.compute import VolumeChanges, volume_changes
from humgen_storage.changes.tables import latest_night, previous_night, read_night
from humgen_storage.changes.text import render
from humgen_storage.config import Config
from humgen_storage.db import Database, open_database
from humgen_storage.errors import UsageError
from humgen_storage.run.inputs import parse_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--date", type=parse_date, help="the later night, YYYY-MM-DD (default: the newest)"
    )
    parser.add_argument(
        "--since",
        type=parse_date,
        metavar="D0",
        help="the earlier night (default: the night before --date the database has)",
    )


@dataclass(frozen=True)
class Comparison:
    since: dt.date
    day: dt.date
    volumes: list[VolumeChanges]


def nights(
    database: Database, day: dt.date | None, since: dt.date | None
) -> tuple[dt.date, dt.date]:
    """(since, day): the nights compared, defaults filled in from the database."""
    day = day or latest_night(database)
    if day is None:
        raise UsageError(f"{database.description} has no report yet (table lustre_usage)")
    since = since or previous_night(database, day)
    if since is None:
        raise UsageError(f"no night before {day} in {database.description}: nothing to compare")
    if since >= day:
        raise UsageError(f"--since {since} is not before --date {day}")
    return since, day


def compare_nights(database: Database, day: dt.date | None, since: dt.date | None) -> Comparison:
    since, day = nights(database, day, since)
    return Comparison(
        since, day, volume_changes(read_night(database, since), read_night(database, day))
    )


def run(args: argparse.Namespace, config: Config) -> int:
    with open_database(config.database, base_dir=config.source.parent) as database:
        comparison = compare_nights(database, args.date, args.since)
    sys.stdout.write(render(comparison.volumes, comparison.since, comparison.day))
    return 0
