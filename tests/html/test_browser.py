"""The demo's two nights as a browser shows them: headless Chromium on file:// URLs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.units import human_size
from tests.changes.nights import HGI_CHANGE, TEAM113_CHANGE, two_nights
from tests.html.browser import browser, chromium, file_url
from tests.sites import Site, days_ago


@pytest.fixture
def chromium_binary() -> str:
    binary = chromium()
    if binary is None:
        message = "chromium is not installed (tests/services/install.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def test_the_pages_in_a_browser(site: Site, chromium_binary: str) -> None:
    two_nights(site)
    out = site.root / "html"
    assert main(site.argv("html", "-o", str(out))) == 0
    with sqlite3.connect(site.database) as db:
        used = {
            (volume, group): size
            for volume, group, size in db.execute(
                "SELECT `Lustre Volume`, `Unix Group`, `Used (bytes)` FROM lustre_usage"
                " WHERE `date` = ?",
                (days_ago(0).isoformat(),),
            )
        }
    with browser(chromium_binary) as page:
        page.open(file_url(out / "index.html"))
        assert page.evaluate("document.querySelectorAll('svg.chart').length") == 2
        bars = page.evaluate(
            "[...document.querySelectorAll('h2 + svg.chart')].map("
            "s => [s.previousElementSibling.textContent, s.querySelectorAll('rect.bar').length])"
        )
        volumes = sorted({volume for volume, _ in used})
        assert bars == [[v, sum(1 for key in used if key[0] == v)] for v in volumes]
        cells = page.evaluate(
            "[...document.querySelectorAll('tr')].filter(r => r.querySelector('td.used')).map("
            "r => [r.cells[1].textContent, r.cells[0].textContent,"
            " r.querySelector('td.used').title, r.querySelector('td.used').textContent])"
        )
        assert sorted((v, g) for v, g, _, _ in cells) == sorted(used)
        for volume, group, title, text in cells:
            assert title == f"{used[(volume, group)]} bytes"
            assert text == human_size(used[(volume, group)])
        conservation = page.evaluate(
            "[...document.querySelectorAll('p.conservation')].map(p => p.textContent)"
        )
        total = HGI_CHANGE + TEAM113_CHANGE
        assert f"+{HGI_CHANGE} +{TEAM113_CHANGE} + elsewhere 0 = +{total} bytes" in conservation

        page.open(file_url(out / "group-scratch118-hgi.html"))
        # Bytes and inodes (the report fills usage_quota), two nights each.
        assert page.evaluate("document.querySelectorAll('svg.chart').length") == 2
        assert page.evaluate("document.querySelectorAll('svg.chart circle.point').length") == 4
        points = page.evaluate(
            "[...document.querySelectorAll('svg.chart')[0].querySelectorAll('circle.point title')]"
            ".map(t => t.textContent)"
        )
        assert len(points) == 2
        hgi = used[("scratch118", "hgi")]
        assert points[-1] == f"{days_ago(0).isoformat()}: {human_size(hgi)} ({hgi} bytes)"
        assert page.evaluate("document.querySelectorAll('table.directories tr').length") == 5

        page.open(file_url(out / "pi-Barrett.html"))
        assert page.evaluate("document.querySelectorAll('rect.bar').length") == 2
        assert page.errors == []
        assert [url for url in page.requests if not url.startswith("file://")] == []
        assert len(page.requests) == 3  # the three pages, nothing else


def test_the_browser_reports_console_errors_and_requests(
    tmp_path: Path, chromium_binary: str
) -> None:
    """The checks above can fail: a page with an error and a request is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><script>console.error("boom")</script>'
        '<img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    with browser(chromium_binary) as page:
        page.open(file_url(bad))
    assert any("boom" in error for error in page.errors)
    assert "http://127.0.0.1:9/x.png" in page.requests
