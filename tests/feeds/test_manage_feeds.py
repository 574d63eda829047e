"""``manage report`` writes the configured feeds after publishing, from what it loaded."""

from __future__ import annotations

import json
import sqlite3

from humgen_storage.cli import main
from humgen_storage.config import DatabaseConfig
from humgen_storage.db import open_database
from tests.feeds.data import fill_database
from tests.sites import Site, days_ago


def test_manage_report_writes_the_feeds_whose_totals_are_the_reports(site: Site) -> None:
    with site.config.open("a", encoding="utf-8") as handle:
        handle.write(
            f"[feeds]\nxdmod_dir = {site.root / 'xdmod'}\n"
            f"prometheus_usage = {site.root / 'usage.prom'}\n"
        )
    # The tables the report's per-user and quota figures go to (made empty here until
    # the report writes them; then a night of other rows on another date).
    with open_database(DatabaseConfig(url=f"sqlite:///{site.database}")) as db:
        fill_database(db)
    day = days_ago(1)
    site.add_set(day)
    assert main(site.argv("manage", "report")) == 0
    with sqlite3.connect(site.database) as db:
        ((used, groups),) = db.execute(
            "SELECT SUM(`Used (bytes)`), COUNT(*) FROM lustre_usage WHERE `date` = ?",
            (day.isoformat(),),
        ).fetchall()
        # A member named as its group shares the group's quota row (XDMoD's user = pi).
        ((members,),) = db.execute(
            "SELECT COUNT(*) FROM usage_by_user WHERE `date` = ? AND `User` != `Unix Group`",
            (day.isoformat(),),
        ).fetchall()
    records = json.loads((site.root / "xdmod" / f"{day.isoformat()}.json").read_text())
    assert groups > 2 and members > 0
    assert len(records) == groups + members  # a quota row per group, a row per member
    assert sum(r["logical_usage"] for r in records) == used
    prom = (site.root / "usage.prom").read_text()
    assert (
        sum(
            int(line.rsplit(" ", 1)[1])
            for line in prom.splitlines()
            if line.startswith("humgen_storage_group_used_bytes{")
        )
        == used
    )
