"""schema: create the database tables (idempotent, MySQL or SQLite)."""

from __future__ import annotations

import argparse
import logging

from humgen_storage.config import Config
from humgen_storage.db import open_database

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="create the MySQL database (utf8mb4, binary collation) or the SQLite"
        " file's directory when missing; without it a missing one is an error",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    with open_database(
        config.database,
        base_dir=config.source.parent,
        create_database=getattr(args, "create_database", False),
    ) as db:
        log.info(
            "tables lustre_usage, spaceman, spaceman_tmp and forecast are in place in %s",
            db.description,
        )
    return 0
