"""The HTML report: an overview of every volume, a page per PI and per group, with charts."""

from __future__ import annotations

import argparse
from pathlib import Path

from humgen_storage.changes.tables import latest_night
from humgen_storage.config import Config
from humgen_storage.db import open_database
from humgen_storage.errors import UsageError
from humgen_storage.html.site import write_site
from humgen_storage.run.inputs import parse_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--date", type=parse_date, help="the night, YYYY-MM-DD (default: the newest)"
    )
    parser.add_argument(
        "-o",
        dest="output_dir",
        metavar="DIR",
        type=Path,
        help="where the pages go (default: [html] output_dir, else report_dir/html)",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    output_dir = args.output_dir or config.html.output_dir or config.paths.report_dir / "html"
    with open_database(config.database, base_dir=config.source.parent) as database:
        day = args.date or latest_night(database)
        if day is None:
            raise UsageError(f"{database.description} has no report yet (table lustre_usage)")
        index = write_site(database, day, output_dir)
    print(index)
    return 0
