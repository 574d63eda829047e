"""`changes` on two nights of the demo installation with a planted change."""

from __future__ import annotations

import pytest

from humgen_storage.changes.command import compare_nights
from humgen_storage.changes.compute import BYTES, FILES
from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from tests.changes.nights import GIB, HGI_CHANGE, TEAM113_CHANGE, two_nights
from tests.sites import Site, days_ago


def test_changes_names_the_planted_cells_with_exact_deltas(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    two_nights(site)
    config = load_config(str(site.config))
    with open_database(config.database, base_dir=config.source.parent) as database:
        comparison = compare_nights(database, None, None)
    assert (comparison.since, comparison.day) == (days_ago(1), days_ago(0))
    volumes = {v.volume: v for v in comparison.volumes}
    assert sorted(volumes) == ["scratch115", "scratch118"]
    groups = volumes["scratch118"].kind("group")
    assert groups is not None
    ranking = groups.ranking(BYTES)
    assert ranking is not None
    assert [(d.key, d.change(BYTES)) for d in ranking.listed] == [
        (("hgi",), HGI_CHANGE),
        (("team113",), TEAM113_CHANGE),
    ]
    assert ranking.change == HGI_CHANGE + TEAM113_CHANGE and ranking.elsewhere == 0
    directories = volumes["scratch118"].kind("directory")
    assert directories is not None
    by_bytes = directories.ranking(BYTES)
    assert by_bytes is not None
    # Directories are not counted by the inspector; the 3 GiB file lay directly in
    # projects/cohort, which has rows below it: elsewhere.
    assert [(d.key, d.change(BYTES), d.state) for d in by_bytes.listed] == [
        (("projects/cohort/batch2",), 400 * GIB, "new"),
        (("teams/team113",), TEAM113_CHANGE, "changed"),
    ]
    assert by_bytes.elsewhere == -3 * GIB
    assert by_bytes.change == 400 * GIB + TEAM113_CHANGE - 3 * GIB
    by_files = directories.ranking(FILES)
    assert by_files is not None and by_files.change == 0 and by_files.elsewhere == -1
    assert directories.new == (("projects/cohort/batch2",),) and directories.vanished == ()
    unchanged = volumes["scratch115"].kind("group")
    assert unchanged is not None and unchanged.rankings[0].listed == ()

    assert main(site.argv("changes")) == 0
    out = capsys.readouterr().out
    assert (
        f"    conservation: +{HGI_CHANGE} +{TEAM113_CHANGE} + elsewhere 0"
        f" = +{HGI_CHANGE + TEAM113_CHANGE} bytes" in out
    )
    assert "  new directories (1): projects/cohort/batch2\n" in out


def test_changes_without_an_earlier_night_is_a_usage_error(site: Site) -> None:
    site.add_set(days_ago(0))
    assert main(site.argv("manage", "report")) == 0
    assert main(site.argv("changes")) == 2
    assert main(site.argv("changes", "--since", days_ago(0).isoformat())) == 2
