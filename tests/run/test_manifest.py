"""Run manifests (SPEC §12): one JSON file per run of a job, whatever its outcome."""

from __future__ import annotations

import gzip
import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from humgen_storage.run import driver
from tests.sites import TODAY, Site


def manifests(site: Site) -> list[dict[str, Any]]:
    """The site's manifests, oldest first; each file is private to its owner."""
    paths = sorted((site.report_dir / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not list((site.report_dir / "runs").glob(".*")), "a temporary was left behind"
    return [json.loads(path.read_text()) for path in paths]


def lines_of(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        return sum(1 for _ in handle)


def test_a_successful_run(site: Site) -> None:
    files = site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    [run] = manifests(site)
    name = next((site.report_dir / "runs").glob("*.json")).name
    assert name.startswith(f"report-{run['started'][:10].replace('-', '')}-")
    assert name.endswith(f"-{run['pid']}.json")
    assert run["job"] == "report" and run["command"] == "manage"
    assert run["date"] == TODAY.isoformat()
    assert run["outcome"] == "success" and run["exit_status"] == 0
    assert run["inputs"] == [
        {"name": str(f), "size": f.stat().st_size, "mtime": f.stat().st_mtime} for f in files
    ]
    # Counted independently: the fixture crawls have no malformed line.
    assert run["volumes"] == {
        "115": {"lines": lines_of(files[1]), "malformed": 0},
        "118": {"lines": lines_of(files[0]), "malformed": 0},
    }
    # Every table the report loads, counted from the database, and the forecast manage
    # runs after the report: one bytes row per report row (inodes too when usage_quota
    # gives an inode quota).
    with sqlite3.connect(site.database) as db:
        counts = {
            table: db.execute(f"SELECT COUNT(*) FROM `{table}`").fetchone()[0]  # noqa: S608
            for table in ("usage_by_user", "usage_quota", "forecast")
        }
    assert run["rows_written"] == {"lustre_usage": len(site.usage_rows()), **counts}
    assert counts["usage_quota"] == len(site.usage_rows())  # one per group of lustre_usage
    assert len(site.usage_rows()) == 11  # 7 groups on 118, 4 on 115
    assert run["quota_failures"] == [] and run["needs_a_person"] == []
    assert set(run["durations_seconds"]) == {"directory", "read", "publish", "forecast"}
    assert all(seconds >= 0 for seconds in run["durations_seconds"].values())


def test_a_failed_run(site: Site) -> None:
    files = site.add_set(TODAY)
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])  # a truncated gzip stream: 118 fails
    assert main(site.argv("manage", "report")) == 1
    [run] = manifests(site)
    assert run["outcome"] == "failed" and run["exit_status"] == 1
    assert run["date"] == TODAY.isoformat()
    assert [item["name"] for item in run["inputs"]] == [str(f) for f in files]
    assert run["rows_written"] == {}
    assert "read" in run["durations_seconds"] and "publish" not in run["durations_seconds"]


def test_a_run_with_no_input_set_fails_and_says_so(site: Site) -> None:
    assert main(site.argv("manage", "report")) == 1
    [run] = manifests(site)
    assert run["outcome"] == "failed" and run["date"] is None and run["inputs"] == []


def test_nothing_to_do(site: Site) -> None:
    site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    assert main(site.argv("manage", "report")) == 0
    first, second = manifests(site)
    assert first["outcome"] == "success"
    assert second["outcome"] == "nothing to do" and second["exit_status"] == 0
    assert second["date"] == TODAY.isoformat()
    assert second["volumes"] == {} and second["rows_written"] == {}


def test_a_degraded_run_lists_the_failed_look_ups(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quotas = tmp_path / "no-quotas.json"
    quotas.write_text("{}")  # every group unknown to lfs
    site.add_set(TODAY, ("115",))
    text = site.config.read_text().replace("report = 118 115", "report = 115")
    site.config.write_text(text)
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(quotas))
    assert main(site.argv("manage", "report")) == 3
    [run] = manifests(site)
    assert run["outcome"] == "degraded" and run["exit_status"] == 3
    assert run["quota_failures"] == ["scratch115:hgi", "scratch115:team113", "scratch115:users"]
    assert len(run["needs_a_person"]) == 1


def test_an_interrupted_run(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "load_directory", interrupted)
    site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 130
    [run] = manifests(site)
    assert run["outcome"] == "interrupted" and run["exit_status"] == 130
    assert run["date"] == TODAY.isoformat() and site.usage_rows() == []


def test_runs_that_are_not_a_job_leave_no_manifest(site: Site) -> None:
    assert main(site.argv("schema")) == 0
    assert not (site.report_dir / "runs").exists()
