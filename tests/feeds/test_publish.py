"""``manage report``'s feeds: each configured one written; a failure degrades, never fails."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from humgen_storage.config.load import load_config
from humgen_storage.feeds.publish import write_feeds
from humgen_storage.run.record import begin
from tests.feeds.data import DAY, database_url, fill
from tests.helpers import base_sections, write_ini


def config_file(tmp_path: Path, feeds: dict[str, object]) -> Path:
    sections = base_sections(tmp_path, database_url(tmp_path))
    return write_ini(tmp_path / "c.ini", {**sections, "feeds": feeds})


def test_every_configured_feed_is_written(tmp_path: Path) -> None:
    fill(database_url(tmp_path))
    config = load_config(
        str(
            config_file(
                tmp_path,
                {
                    "xdmod_dir": tmp_path / "xdmod",
                    "ondemand_file": tmp_path / "ood" / "quota.json",
                    "prometheus_usage": tmp_path / "usage.prom",
                },
            )
        )
    )
    record = begin("manage", job="report")
    write_feeds(config, DAY)
    assert not record.degraded
    assert len(json.loads((tmp_path / "xdmod" / "2026-11-20.json").read_text())) == 8
    assert len(json.loads((tmp_path / "ood" / "quota.json").read_text())["quotas"]) == 5
    assert "humgen_storage_group_used_bytes" in (tmp_path / "usage.prom").read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_nothing_configured_opens_nothing(tmp_path: Path) -> None:
    config = load_config(str(config_file(tmp_path, {})))
    record = begin("manage", job="report")
    write_feeds(config, DAY)  # the database does not exist: it is never opened
    assert not record.degraded
    assert not (tmp_path / "usage.db").exists()


def test_a_feed_that_fails_degrades_the_run_and_the_others_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fill(database_url(tmp_path))
    (tmp_path / "a-file").write_text("not a folder")
    previous = tmp_path / "usage.prom"
    config = load_config(
        str(
            config_file(
                tmp_path,
                {"xdmod_dir": tmp_path / "a-file" / "xdmod", "prometheus_usage": previous},
            )
        )
    )
    record = begin("manage", job="report")
    with caplog.at_level(logging.ERROR):
        write_feeds(config, DAY)
    assert [n.split(":")[0] for n in record.needs_a_person] == ["feed not written"]
    assert "XDMoD" in record.needs_a_person[0]
    assert "the XDMoD feed of 2026-11-20 was not written" in caplog.text
    assert previous.exists()


def test_the_database_missing_degrades_every_feed(tmp_path: Path) -> None:
    sections = base_sections(tmp_path, f"sqlite:///{tmp_path / 'no-such-dir' / 'usage.db'}")
    path = write_ini(
        tmp_path / "c.ini", {**sections, "feeds": {"ondemand_file": tmp_path / "q.json"}}
    )
    config = load_config(str(path))
    record = begin("manage", job="report")
    write_feeds(config, DAY)  # the database cannot be opened: its folder is missing
    assert record.degraded
    assert not (tmp_path / "q.json").exists()
