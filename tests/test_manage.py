"""humgen-storage manage: newest complete set, done-markers, latest-* links, the job lock."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.run.layout import lock_dir
from humgen_storage.run.locking import job_lock
from tests.helpers import REPO
from tests.sites import MAX_DAYS_AGO, TODAY, VOLUMES, Site, days_ago

# The groups of the fixture crawls that have a name (quota is asked for these).
QUOTA_GROUPS = ("hgi", "team113", "vr-projects", "tol", "cellgen", "users")


def test_newest_complete_set_wins_over_a_newer_incomplete_day(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_crawl(TODAY, "118")  # 115 has not arrived yet today
    chosen = site.add_set(days_ago(1))
    site.add_set(days_ago(3))  # complete but older

    assert main(site.argv("manage", "report")) == 0

    assert site.tsv(days_ago(1)).is_file()
    assert not site.tsv(TODAY).exists()
    assert not site.tsv(days_ago(3)).exists()
    rows = site.usage_rows()
    assert rows and {row[8] for row in rows} == {days_ago(1).isoformat()}
    assert {row[0] for row in rows} == {"scratch118", "scratch115"}
    for volume, path in zip(VOLUMES, chosen, strict=True):
        assert site.link(volume).is_symlink()
        assert Path(os.readlink(site.link(volume))) == path.absolute()
    assert days_ago(1).isoformat() in capsys.readouterr().err


def test_latest_links_replace_older_ones(site: Site) -> None:
    old = site.add_set(days_ago(2))
    site.report_dir.mkdir(parents=True)
    for volume, path in zip(VOLUMES, old, strict=True):
        os.symlink(path, site.link(volume))
    new = site.add_set(days_ago(0))

    assert main(site.argv("manage", "report")) == 0

    for volume, path in zip(VOLUMES, new, strict=True):
        assert Path(os.readlink(site.link(volume))) == path.absolute()
        assert site.link(volume).resolve() == path.resolve()
    # No temporary link is left behind.
    assert sorted(p.name for p in site.report_dir.iterdir() if "latest" in p.name) == [
        "latest-115.dat.gz",
        "latest-118.dat.gz",
    ]


def test_nothing_within_max_days_ago_fails_loudly(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(days_ago(MAX_DAYS_AGO))  # one day too old
    site.add_crawl(TODAY, "118")  # incomplete

    assert main(site.argv("manage", "report")) == 1

    err = capsys.readouterr().err
    assert "no complete set" in err
    assert "crawler has not delivered" in err
    assert f"last {MAX_DAYS_AGO} days" in err
    assert not site.database.exists()
    assert not (site.report_dir / "report-output-files").exists()
    assert not site.link("118").exists()


def test_oldest_day_within_max_days_ago_is_used(site: Site) -> None:
    site.add_set(days_ago(MAX_DAYS_AGO - 1))
    assert main(site.argv("manage", "report")) == 0
    assert site.tsv(days_ago(MAX_DAYS_AGO - 1)).is_file()


def test_done_marker_means_nothing_to_do(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.add_set(TODAY)
    marker = site.tsv(TODAY)
    marker.parent.mkdir(parents=True)
    marker.write_text("already here\n")

    assert main(site.argv("manage", "report")) == 0

    assert "already done" in capsys.readouterr().err
    assert marker.read_text() == "already here\n"
    assert not site.database.exists()  # nothing was loaded
    assert not (site.report_dir / ".staging").exists()  # nothing was staged
    assert not site.link("118").exists()


def test_second_run_finds_the_done_marker(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    rows = site.usage_rows()
    tsv = site.tsv(TODAY).read_bytes()
    capsys.readouterr()

    assert main(site.argv("manage", "report")) == 0

    assert "already done" in capsys.readouterr().err
    assert site.usage_rows() == rows
    assert site.tsv(TODAY).read_bytes() == tsv


def test_lock_held_in_this_process(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.add_set(TODAY)
    config = load_config(str(site.config))
    with job_lock(lock_dir(config), "report") as held_by:
        assert held_by is None
        assert main(site.argv("manage", "report")) == 0
    err = capsys.readouterr().err
    assert "lock is held" in err
    assert str(os.getpid()) in err
    assert not site.tsv(TODAY).exists()
    # Another job's lock is another lock.
    with job_lock(lock_dir(config), "split") as held_by:
        assert held_by is None
        assert main(site.argv("manage", "report")) == 0
    assert site.tsv(TODAY).is_file()


HOLD_LOCK = """
import os, sys, signal
from pathlib import Path
from humgen_storage.run.locking import job_lock
with job_lock(Path(sys.argv[1]), "report") as held_by:
    assert held_by is None
    print("locked", flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up: the lock file stays
    sys.stdin.read()
"""


def hold_lock(locks: Path, mode: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(locks), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_lock_held_by_another_process(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.add_set(TODAY)
    locks = lock_dir(load_config(str(site.config)))
    holder = hold_lock(locks, "hold")
    try:
        assert main(site.argv("manage", "report")) == 0
        err = capsys.readouterr().err
        assert "lock is held" in err
        assert str(holder.pid) in err
        assert not site.tsv(TODAY).exists()
    finally:
        holder.communicate("", timeout=10)
    assert holder.returncode == 0
    # Released: the next run does the work.
    assert main(site.argv("manage", "report")) == 0
    assert site.tsv(TODAY).is_file()


def test_lock_of_a_dead_process_does_not_block(site: Site) -> None:
    site.add_set(TODAY)
    locks = lock_dir(load_config(str(site.config)))
    holder = hold_lock(locks, "die")
    holder.communicate(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    lock_file = locks / "report.lock"
    # Left behind, naming the dead: its pid first, then its start time.
    assert lock_file.read_text().split()[0] == str(holder.pid)

    assert main(site.argv("manage", "report")) == 0
    assert site.tsv(TODAY).is_file()


def test_leftover_lock_file_does_not_block(site: Site) -> None:
    site.add_set(TODAY)
    locks = lock_dir(load_config(str(site.config)))
    locks.mkdir(parents=True)
    (locks / "report.lock").write_text("999999999\n")
    assert main(site.argv("manage", "report")) == 0
    assert site.tsv(TODAY).is_file()


def test_two_managers_started_at_once(site: Site, tmp_path: Path) -> None:
    """One loads the date; the other finds the lock held and exits 0 without writing."""
    site.add_set(TODAY)
    # Slow quota calls keep the first manager inside its lock while the second starts.
    quotas = tmp_path / "slow-quotas.json"
    quotas.write_text(json.dumps({name: {"limit_kb": 1, "delay": 1.5} for name in QUOTA_GROUPS}))
    env = dict(
        os.environ,
        FAKE_LFS_QUOTAS=str(quotas),
        PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    )
    command = [sys.executable, "-m", "humgen_storage", *site.argv("manage", "report")]
    managers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outcomes = [manager.communicate(timeout=120) for manager in managers]
    assert [manager.returncode for manager in managers] == [0, 0]
    said = [err for _, err in outcomes]
    assert sum("lock is held" in err for err in said) == 1
    assert sum("loaded" in err and "rows" in err for err in said) == 1
    rows = site.usage_rows()
    assert len(rows) == len({(r[0], r[2]) for r in rows})  # every group once: loaded once
    assert site.tsv(TODAY).is_file()


def test_no_complete_set_names_the_missing_files_per_date(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: `no complete set of report volumes (...)` did not say which files were
    missing for which date."""
    site.add_crawl(TODAY, "118")
    site.add_crawl(days_ago(2), "115")

    assert main(site.argv("manage", "report")) == 1

    err = capsys.readouterr().err
    stamp = {n: days_ago(n).strftime("%Y%m%d") for n in range(MAX_DAYS_AGO)}
    assert f"{TODAY}: missing volume 115 ({stamp[0]}_115.dat.gz)" in err
    assert (
        f"{days_ago(1)}: missing volumes 118 115 ({stamp[1]}_118.dat.gz {stamp[1]}_115.dat.gz)"
        in err
    )
    assert f"{days_ago(2)}: missing volume 118 ({stamp[2]}_118.dat.gz)" in err
    assert f"{days_ago(MAX_DAYS_AGO - 1)}: missing volumes 118 115" in err
    assert str(days_ago(MAX_DAYS_AGO)) not in err  # only the dates it looked at


def test_date_reruns_a_chosen_night_and_force_replaces_it(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(TODAY)
    site.add_set(days_ago(2))
    assert main(site.argv("manage", "report")) == 0  # the newest: today
    assert not site.tsv(days_ago(2)).exists()

    assert main(site.argv("manage", "report", "--date", days_ago(2).isoformat())) == 0
    assert site.tsv(days_ago(2)).is_file()
    loaded = site.usage_rows()
    assert {row[8] for row in loaded} == {TODAY.isoformat(), days_ago(2).isoformat()}
    capsys.readouterr()

    # Done: said so, with the way to run it again.
    assert main(site.argv("manage", "report", "--date", days_ago(2).isoformat())) == 0
    err = capsys.readouterr().err
    assert "already done" in err and "--force" in err

    # --force replaces that night's rows (a hand-damaged row comes back) and no other's.
    with sqlite3.connect(site.database) as db:
        db.execute(
            "UPDATE lustre_usage SET `Used (bytes)` = 1 WHERE `date` = ?",
            (days_ago(2).isoformat(),),
        )
    site.tsv(days_ago(2)).write_text("damaged\n")
    argv = site.argv("manage", "report", "--date", days_ago(2).isoformat(), "--force")
    assert main(argv) == 0
    assert site.usage_rows() == loaded
    assert site.tsv(days_ago(2)).read_text().startswith("Lustre Volume\t")

    # A date whose set is not complete names what is missing.
    assert main(site.argv("manage", "report", "--date", days_ago(1).isoformat())) == 1
    assert f"missing {days_ago(1).strftime('%Y%m%d')}_118.dat.gz" in capsys.readouterr().err


def tree_state(root: Path) -> dict[str, tuple[int, int, float]]:
    """Every path under ``root`` (links not followed): kind, size and mtime."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = os.lstat(path)
        state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime)
    return state


@pytest.mark.parametrize("job", ["report", "inspect", "split"])
def test_dry_run_says_what_it_would_read_and_write_and_writes_nothing(
    site: Site, capsys: pytest.CaptureFixture[str], job: str
) -> None:
    files = site.add_set(TODAY)
    old_log = site.report_dir / f"{job}-logs" / "2020-01-01.1.out"
    old_log.parent.mkdir(parents=True)
    old_log.write_text("old\n")
    os.utime(old_log, (1_600_000_000, 1_600_000_000))
    text = site.config.read_text().replace("[paths]", "[paths]\nkeep_days = 3")
    site.config.write_text(text)
    before = tree_state(site.root.parent)

    assert main(site.argv("manage", job, "--dry-run")) == 0

    assert tree_state(site.root.parent) == before  # no lock file, link, database or log
    out = capsys.readouterr().out
    for path in files:
        assert f"{path} ({path.stat().st_size} bytes)" in out
    assert f"{site.link('118')} -> {files[0].absolute()}" in out
    assert f"keep_days (3) would remove:\n    {old_log}" in out
    expected = {
        "report": ["lustre_usage", str(site.tsv(TODAY))],
        "inspect": ["spaceman", "inspector-" + TODAY.strftime("%Y%m%d") + ".tsv"],
        "split": [TODAY.strftime("%Y%m%d"), "s3://"],
    }[job]
    for word in expected:
        assert word in out


def test_dry_run_of_a_done_date_says_a_run_would_do_nothing(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    capsys.readouterr()
    assert main(site.argv("manage", "report", "--dry-run")) == 0
    assert "a run would do nothing" in capsys.readouterr().out
    assert main(site.argv("manage", "report", "--dry-run", "--force")) == 0
    assert "replacing rows of" in capsys.readouterr().out
