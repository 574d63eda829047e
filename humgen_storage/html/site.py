"""Writing the site: every page into the output directory, each file complete or not
at all (written under a temporary name and renamed)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.db import Database, open_database
from humgen_storage.html.data import SiteData, read_site
from humgen_storage.html.group import group_page, pi_page
from humgen_storage.html.pages import group_file, overview, pi_file
from humgen_storage.run.atomic import atomic_file
from humgen_storage.run.record import current

log = logging.getLogger(__name__)


def build_pages(data: SiteData) -> dict[str, str]:
    """File name -> page, for every page of the site."""
    pages = {"index.html": overview(data)}
    for group in data.groups:
        pages[group_file(group)] = group_page(data, group)
    for pi in {group.pi for group in data.groups}:
        pages[pi_file(pi)] = pi_page(data, pi)
    return pages


def write_site(database: Database, day: dt.date, output_dir: Path) -> Path:
    pages = build_pages(read_site(database, day))
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(pages.items()):
        with atomic_file(output_dir / name) as handle:
            handle.write(text)
    log.info(
        "wrote the HTML report of %s: %s (%d pages)", day, output_dir / "index.html", len(pages)
    )
    return output_dir / "index.html"


def write_after_report(config: Config, day: dt.date) -> None:
    """``manage report``'s last step when ``[html] output_dir`` is set: a failure is
    logged and makes the run degraded (exit 3), never failed: the report is published."""
    output_dir = config.html.output_dir
    if output_dir is None:
        return
    try:
        with open_database(config.database, base_dir=config.source.parent) as database:
            write_site(database, day, output_dir)
    except Exception as exc:
        note = f"the HTML report of {day} was not written to {output_dir}: {exc}"
        log.error("%s", note)
        current().degrade(note)
