"""SPEC section 11, Files and Secrets: no link the product did not make is followed
or deleted through; created files follow the umask, staging databases and locks are
the owner's alone; lfs sees none of the product's secrets.

The three symbolic-link attacks of issue 16 are run against a victim file and folder
the test owns: the victim is unchanged and the run fails (exit 1) naming the link.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.errors import UnsafePathError
from humgen_storage.run.layout import day_stamp
from humgen_storage.run.safe_files import make_directories, remove_tree
from tests.sites import TODAY, Site

STAMP = day_stamp(TODAY)
VICTIM_TEXT = "the victim's own data\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder of someone else's files: a file and a folder named like a staging area."""
    folder = tmp_path / "victim"
    (folder / STAMP).mkdir(parents=True)
    (folder / STAMP / "keep.txt").write_text(VICTIM_TEXT)
    (folder / "file.txt").write_text(VICTIM_TEXT)
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() if p.is_file() else "<dir>"
        for p in sorted(folder.rglob("*"))
    }


def run_report(site: Site) -> int:
    return main(site.argv("report", "--workers", "1"))


def test_a_lock_link_to_a_victim_file_is_refused(
    site: Site, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(TODAY)
    (site.report_dir / ".locks").mkdir(parents=True)
    link = site.report_dir / ".locks" / "report.lock"
    link.symlink_to(victim / "file.txt")
    before = snapshot(victim)

    assert run_report(site) == 1

    assert snapshot(victim) == before
    assert str(link) in capsys.readouterr().err
    assert not site.tsv(TODAY).exists()


def test_a_staging_link_to_a_victim_folder_is_refused(
    site: Site, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(TODAY)
    site.report_dir.mkdir(parents=True)
    link = site.report_dir / ".staging"
    link.symlink_to(victim)
    before = snapshot(victim)

    assert run_report(site) == 1

    assert snapshot(victim) == before  # its <D>/ is neither deleted nor written into
    assert str(link) in capsys.readouterr().err
    assert link.is_symlink()


def test_a_staging_area_link_to_a_victim_folder_is_refused(
    site: Site, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(TODAY)
    (site.report_dir / ".staging").mkdir(parents=True)
    link = site.report_dir / ".staging" / STAMP
    link.symlink_to(victim)
    before = snapshot(victim)

    assert run_report(site) == 1

    assert snapshot(victim) == before  # no directory.db, no volume-118.db
    assert str(link) in capsys.readouterr().err


def test_a_link_at_the_tsv_or_latest_name_is_refused(site: Site, victim: Path) -> None:
    site.add_set(TODAY)
    site.tsv(TODAY).parent.mkdir(parents=True)
    site.tsv(TODAY).symlink_to(victim / "file.txt")

    assert run_report(site) == 1
    assert site.tsv(TODAY).is_symlink()

    site.tsv(TODAY).unlink()
    site.link("118").symlink_to(victim / "file.txt")  # a link the product did not make
    assert main(site.argv("manage", "report")) == 1
    assert os.readlink(site.link("118")) == str(victim / "file.txt")

    site.link("118").unlink()
    site.link("118").write_text("someone's file\n")  # not a link at all
    assert main(site.argv("manage", "report")) == 1
    assert site.link("118").read_text() == "someone's file\n"
    assert snapshot(victim)["file.txt"] == VICTIM_TEXT


def test_a_split_output_link_is_refused(site: Site, victim: Path) -> None:
    site.add_set(TODAY)
    output = site.root / "groups"  # [splitter] output_dir
    output.mkdir(parents=True)
    (output / STAMP).symlink_to(victim)
    (output / f".{STAMP}.building-0000").symlink_to(victim / STAMP)
    before = snapshot(victim)

    assert main(site.argv("split", "--no-upload", "--workers", "1")) == 1

    assert snapshot(victim) == before


# ------------------------------------------------------------------ the walker itself


def test_remove_tree_never_follows_a_link_inside_the_tree(tmp_path: Path, victim: Path) -> None:
    base = tmp_path / "reports"
    tree = base / ".staging" / "old"
    tree.mkdir(parents=True)
    (tree / "into-victim").symlink_to(victim)
    (tree / "file").write_text("x")

    remove_tree(base, tree)

    assert not tree.exists()
    assert (victim / "file.txt").read_text() == VICTIM_TEXT


def test_a_file_where_a_folder_belongs_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    base.mkdir()
    (base / ".staging").write_text("not a folder")
    with pytest.raises(UnsafePathError, match=r"\.staging is not a directory"):
        make_directories(base, base / ".staging" / "x")
    with pytest.raises(UnsafePathError, match=r"\.staging is not a directory"):
        remove_tree(base, base / ".staging")


# ------------------------------------------------------------------ modes


@pytest.fixture(params=[0o077, 0o022], ids=["umask077", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_modes_follow_the_umask_and_private_files_are_0600(site: Site, umask: int) -> None:
    site.add_set(TODAY)
    public = 0o666 & ~umask

    assert main(site.argv("report", "--stage-only", "--volume", "118", "--workers", "1")) == 0
    staged = site.report_dir / ".staging" / STAMP
    assert mode(staged / "directory.db") == 0o600
    assert mode(staged / "volume-118.db") == 0o600

    assert run_report(site) == 0
    assert mode(site.tsv(TODAY)) == public
    assert mode(site.report_dir / ".locks" / "report.lock") == 0o600

    assert main(site.argv("split", "--no-upload", "--workers", "1")) == 0
    outputs = sorted((site.root / "groups" / STAMP).iterdir())
    assert outputs and {mode(p) for p in outputs} == {public}


# ------------------------------------------------------------------ secrets


SECRETS = {
    "HUMGEN_MYSQL_PASSWORD": "db-secret",
    "HUMGEN_LDAP_PASSWORD": "ldap-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-token",
}


def test_lfs_sees_none_of_the_secrets(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add_set(TODAY)
    calls = tmp_path / "lfs-calls.jsonl"
    monkeypatch.setenv("FAKE_LFS_LOG", str(calls))
    monkeypatch.setenv("HUMGEN_TEST_MARKER", "kept")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)

    assert run_report(site) == 0

    environments = [set(json.loads(line)["environment"]) for line in calls.read_text().splitlines()]
    assert environments
    for names in environments:
        assert "HUMGEN_TEST_MARKER" in names  # the rest of the environment is kept
        assert not names & set(SECRETS)
