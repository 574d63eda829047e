"""Two nights of the demo installation: the fixture crawls yesterday, and today the
same with fixtures/plant_change.py's planted change on volume 118. Holds no tests."""

from __future__ import annotations

import subprocess
import sys

from humgen_storage.cli import main
from tests.helpers import REPO
from tests.sites import Site, days_ago

PLANT = REPO / "fixtures" / "plant_change.py"
GIB = 2**30
# What plant_change.py plants, by hand: hgi gains a 4096-byte directory and a 400 GiB
# file and loses a 3 GiB one; team113's file grows by 100 GiB.
HGI_CHANGE = 400 * GIB + 4096 - 3 * GIB
TEAM113_CHANGE = 100 * GIB


# The inspector roots of fixtures/demo.ini.
INSPECTOR_ROOTS = """
[inspector]
118 = lustre/scratch118/humgen/hgi/projects lustre/scratch118/humgen/teams
115 = lustre/scratch115/realdata/mdt[0-9]/projects lustre/scratch115/realdata/mdt[0-9]/teams
"""


def two_nights(site: Site) -> None:
    """Report and inspect yesterday and today (in that order), as `make demo` does."""
    if "[inspector]" not in site.config.read_text():
        with site.config.open("a") as config:
            config.write(INSPECTOR_ROOTS)
    yesterday, today = days_ago(1), days_ago(0)
    site.add_set(yesterday)
    site.add_set(today)
    planted = site.mpistat_dir / f"{today.strftime('%Y%m%d')}_118.dat.gz"
    subprocess.run([sys.executable, str(PLANT), str(planted)], check=True)
    for day in (yesterday, today):
        assert main(site.argv("manage", "report", "--date", day.isoformat())) == 0
        assert main(site.argv("manage", "inspect", "--date", day.isoformat())) == 0
