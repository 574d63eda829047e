"""The pages from plain data: escaping, the charts' marks, exact bytes on hover."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from humgen_storage.cli import main
from humgen_storage.html.data import Forecast, Group, Point, SiteData
from humgen_storage.html.group import group_page
from humgen_storage.html.pages import overview, slug
from humgen_storage.html.site import build_pages
from tests.changes.nights import two_nights
from tests.sites import Site

DAY = dt.date(2026, 11, 24)
HOSTILE = '<script>alert("x")</script>&'


def site_data() -> SiteData:
    groups = [
        Group("scratch118", HOSTILE, HOSTILE, 600, 1000, 1.5, "/archive/a<b", True),
        Group("scratch118", "calm", None, 10, 1000, None, None, True),
    ]
    data = SiteData(DAY, None, groups)
    data.bytes_history = {
        ("scratch118", HOSTILE): [
            Point(DAY - dt.timedelta(days=n), 600 - 10 * n, 1000) for n in (2, 1, 0)
        ]
    }
    data.forecasts = {("scratch118", HOSTILE, "bytes"): Forecast("warning", 20.0, 15.0, 30.0, 20.0)}
    return data


def test_names_are_escaped_everywhere() -> None:
    for text in build_pages(site_data()).values():
        assert "<script>" not in text
    assert "&lt;script&gt;" in overview(site_data())


def test_the_group_chart_has_a_point_a_night_and_the_forecast() -> None:
    data = site_data()
    text = group_page(data, data.groups[0])
    assert len(re.findall(r'<circle class="point"', text)) == 3
    assert (
        text.count('<line class="forecast"') == 1 and text.count('<polygon class="interval"') == 1
    )
    assert "<title>2026-11-24: 600 (600 bytes)</title>" in text
    assert "full in 20 days (80 % interval 15 to 30 days)" in text


def test_the_riskiest_group_comes_first_and_sizes_carry_exact_bytes() -> None:
    text = overview(site_data())
    assert text.index("calm") > text.index("&lt;script")
    assert text.count('<rect class="bar ') == 2
    assert '<td class="used" title="600 bytes">600</td>' in text


def test_slugs_are_file_names_and_distinct() -> None:
    assert slug("a b/c") == "a.20b.2fc" and slug("a.20b") != slug("a b")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", slug(HOSTILE))


def test_manage_report_writes_the_site_when_configured(site: Site) -> None:
    with site.config.open("a") as config:
        config.write(f"\n[html]\noutput_dir = {site.root / 'html'}\n")
    two_nights(site)
    assert (site.root / "html" / "index.html").is_file()
    assert (site.root / "html" / "group-scratch118-hgi.html").is_file()


def test_a_failed_site_degrades_the_report(site: Site) -> None:
    blocker = site.root / "not-a-directory"
    blocker.write_text("")
    with site.config.open("a") as config:
        config.write(f"\n[html]\noutput_dir = {blocker / 'html'}\n")
    site.add_set(DAY)
    assert main(site.argv("manage", "report", "--date", DAY.isoformat())) == 3
    assert site.usage_rows()


@pytest.mark.parametrize("argv", [("html", "--date", "2000-01-01")])
def test_html_for_a_night_without_rows_writes_an_empty_overview(
    site: Site, argv: tuple[str, ...]
) -> None:
    assert main(site.argv(*argv, "-o", str(site.root / "out"))) == 0
    assert "Lustre usage on 2000-01-01" in (site.root / "out" / "index.html").read_text()
