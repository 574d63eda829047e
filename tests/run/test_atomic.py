"""Files that appear complete or not at all, and a full disk named in one line
(run/atomic.py), on a real tmpfs filled to the last byte."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from humgen_storage.errors import OutputError
from humgen_storage.run.atomic import atomic_file, prepared_text_file, replaced_on_success
from tests.services.tmpfs import small_disk


def test_prepared_file_appears_only_when_installed(tmp_path: Path) -> None:
    path = tmp_path / "out" / "a.tsv"
    with prepared_text_file(path) as prepared:
        prepared.handle.write("x\ty\n")
        prepared.finish()
        assert not path.exists()  # written and synced, not yet in place
        prepared.install()
    assert path.read_text(encoding="utf-8") == "x\ty\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.tsv"]

    with prepared_text_file(path) as prepared:  # never installed: the old file stays
        prepared.handle.write("new\n")
        prepared.finish()
    assert path.read_text(encoding="utf-8") == "x\ty\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.tsv"]


def test_an_error_of_another_file_passes_through(tmp_path: Path) -> None:
    path = tmp_path / "a.tsv"
    with pytest.raises(FileNotFoundError), atomic_file(path):
        open(tmp_path / "no-such-input")  # noqa: SIM115 - fails at once
    assert list(tmp_path.iterdir()) == []


def test_full_disk_is_one_line_naming_the_file(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        disk.fill()
        text = disk.mount_point / "report.tsv"
        with pytest.raises(OutputError) as failure, atomic_file(text) as handle:
            handle.write("x" * 100_000)
        assert str(failure.value) == f"cannot write {text}: No space left on device (ENOSPC)"

        with pytest.raises(OutputError) as failure, prepared_text_file(text) as prepared:
            prepared.handle.write("x" * 100_000)
            prepared.finish()
        assert str(failure.value) == f"cannot write {text}: No space left on device (ENOSPC)"

        staged = disk.mount_point / "volume-118.db"
        with pytest.raises(OutputError) as failure, replaced_on_success(staged) as temporary:
            with sqlite3.connect(temporary) as db:
                db.execute("CREATE TABLE t (x BLOB)")
                db.execute("INSERT INTO t VALUES (?)", (b"\0" * 100_000,))
        assert str(failure.value).startswith(f"cannot write {staged}: ")
        assert "SQLITE_FULL" in str(failure.value) or "ENOSPC" in str(failure.value)
        assert disk.files() == []  # no temporary left behind

    missing_parent = tmp_path / "file" / "a.tsv"
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutputError) as failure, atomic_file(missing_parent):
        pass
    assert str(failure.value).startswith(f"cannot write {missing_parent}: ")
