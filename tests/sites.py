"""The demo installation (like fixtures/demo.ini) in a temporary directory, for the
tests of the commands that run every job: manage and the cron scripts.

The sites made under one root share their mpistat directory, so that two installations
can read the same crawls. Holds no tests.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO, base_sections, write_ini

FIXTURE_CRAWLS = REPO / "fixtures" / "mpistat"
DEMO_LDIF = REPO / "fixtures" / "ldap" / "directory.ldif"
DEMO_QUOTAS = REPO / "fixtures" / "demo-quotas.json"
VOLUMES = ("118", "115")
MAX_DAYS_AGO = 4


@dataclass
class Site:
    """One configured installation in a temporary directory."""

    root: Path
    config: Path
    mpistat_dir: Path
    report_dir: Path
    database: Path

    def add_crawl(self, day: dt.date, volume: str) -> Path:
        """A fixture crawl of ``volume`` delivered under ``day``'s name."""
        self.mpistat_dir.mkdir(parents=True, exist_ok=True)
        target = self.mpistat_dir / f"{day.strftime('%Y%m%d')}_{volume}.dat.gz"
        shutil.copyfile(FIXTURE_CRAWLS / f"20261120_{volume}.dat.gz", target)
        return target

    def add_set(self, day: dt.date, volumes: tuple[str, ...] = VOLUMES) -> list[Path]:
        return [self.add_crawl(day, volume) for volume in volumes]

    def tsv(self, day: dt.date) -> Path:
        return self.report_dir / "report-output-files" / f"report-{day.strftime('%Y%m%d')}.tsv"

    def link(self, volume: str) -> Path:
        return self.report_dir / f"latest-{volume}.dat.gz"

    def usage_rows(self) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.database) as db:
            return db.execute(
                "SELECT `Lustre Volume`, `PI`, `Unix Group`, `Used (bytes)`, `Quota (bytes)`,"
                " `Consumption`, `Last Modified (days)`, `Archived Directories`, `date`, `IsHumgen`"
                " FROM lustre_usage ORDER BY `Lustre Volume`, `Unix Group`, `date`"
            ).fetchall()

    def argv(self, *args: str) -> list[str]:
        return ["--config", str(self.config), *args]


def make_site(root: Path, name: str = "site") -> Site:
    """A config like fixtures/demo.ini, with absolute paths under ``root/name``."""
    base = root / name
    base.mkdir(parents=True)
    sections = base_sections(base)
    sections["paths"]["max_days_ago"] = MAX_DAYS_AGO
    sections["paths"]["mpistat_dir"] = root / "mpistat"  # sites may share their inputs
    sections["volumes"] = {name: " ".join(VOLUMES) for name in ("report", "inspector", "splitter")}
    sections["ldap"]["ldif"] = DEMO_LDIF
    sections["lsf"] = {
        "group": "hgi",
        "queue": "normal",
        "report_memory_mb": 3000,
        "report_cores": 2,
    }
    config = write_ini(base / "humgen_storage.ini", sections)
    return Site(
        root=base,
        config=config,
        mpistat_dir=root / "mpistat",
        report_dir=base / "reports",
        database=base / "usage.db",
    )


TODAY = dt.date.today()


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)
