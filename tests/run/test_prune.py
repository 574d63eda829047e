"""[paths] keep_days: manage prunes only what the product leaves behind, never through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from humgen_storage.cli import main
from tests.sites import TODAY, Site

OLD = 1_600_000_000.0  # 2020-09-13: far older than any keep_days below


def make_old(path: Path, directory: bool = False) -> Path:
    if directory:
        (path / "inside").mkdir(parents=True)
        (path / "inside" / "f").write_text("x")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    os.utime(path, (OLD, OLD), follow_symlinks=False)
    return path


def with_keep_days(site: Site, days: int) -> None:
    text = site.config.read_text().replace("[paths]", f"[paths]\nkeep_days = {days}")
    site.config.write_text(text)


def test_keep_days_prunes_the_products_old_files_and_nothing_else(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reports, groups = site.report_dir, site.root / "groups"
    pruned = [
        make_old(reports / ".staging" / "20200101", directory=True),
        make_old(reports / ".staging" / "inspect-20200101.123", directory=True),
        make_old(reports / "runs" / "report-20200101-020000-1.json"),
        make_old(groups / "20200101", directory=True),
        make_old(reports / "report-logs" / "2020-01-01.1.out"),
        make_old(reports / "split-logs" / "2020-01-01.2.err"),
    ]
    kept = [
        make_old(reports / "report-output-files" / "report-20200101.tsv"),
        make_old(reports / "report-output-files" / "inspector-20200101.tsv"),
        make_old(reports / "runs" / "notes.txt"),  # not a manifest
        make_old(groups / "keep-me", directory=True),  # not a dated directory
        make_old(reports / "elsewhere.out"),
        make_old(site.database),
    ]
    recent = reports / "inspect-logs" / "today.out"
    recent.parent.mkdir(parents=True)
    recent.write_text("new")
    # Links the product did not make: neither followed nor removed.
    victim_dir = make_old(tmp_path / "victim-dir", directory=True)
    victim_file = make_old(tmp_path / "victim-file")
    links = [reports / "report-logs" / "2020-01-02.3.out", groups / "20200102"]
    os.symlink(victim_file, links[0])
    os.symlink(victim_dir, links[1])
    for link in links:
        os.utime(link, (OLD, OLD), follow_symlinks=False)
    site.add_set(TODAY)
    with_keep_days(site, 3)

    assert main(site.argv("manage", "report")) == 0

    assert site.tsv(TODAY).is_file()
    for path in pruned:
        assert not os.path.lexists(path), path
        assert f"keep_days: removed {path}" in caplog.text
    for path in [*kept, recent, *links]:
        assert os.path.lexists(path), path
    assert (victim_dir / "inside" / "f").read_text() == "x"
    assert victim_file.read_text() == "x"
    assert f"{links[0]} is a symbolic link; left alone" in caplog.text


def test_a_linked_folder_is_not_pruned_through(site: Site, tmp_path: Path) -> None:
    victim = make_old(tmp_path / "victim" / "2020-01-01.1.out")
    site.report_dir.mkdir(parents=True)
    os.symlink(victim.parent, site.report_dir / "report-logs")
    site.add_set(TODAY)
    with_keep_days(site, 1)
    assert main(site.argv("manage", "report")) == 0
    assert victim.read_text() == "x"


def test_without_keep_days_everything_is_kept(site: Site) -> None:
    old = make_old(site.report_dir / ".staging" / "20200101", directory=True)
    site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    assert old.is_dir()
