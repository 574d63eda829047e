"""Whole jobs give byte-identical outputs on the compiled kernel and on the numpy path:
report, inspect and split on the fixture crawls (one volume in each crawl format), with
one worker and with two, and inspect's PATH queries and generic layout. (tests/run/
test_malformed.py runs every kind of malformed line through the three jobs on both
paths.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.mpistat import kernel
from tests.helpers import on_kernel_path
from tests.sites import Site, days_ago, make_site

DAY = days_ago(1)
INSPECTOR_ROOTS = (  # fixtures/demo.ini's
    "\n[inspector]\n118 = lustre/scratch118/humgen/hgi/projects lustre/scratch118/humgen/teams\n"
    "115 = lustre/scratch115/realdata/mdt[0-9]/projects lustre/scratch115/realdata/mdt[0-9]/teams\n"
)


def outputs(site: Site, workers: int) -> dict[str, bytes]:
    """Every job's published output on ``site`` for DAY: TSVs, the split's files, the
    database's rows."""
    date = ["--date", DAY.isoformat(), "--workers", str(workers)]
    assert main(site.argv("report", "--force", *date)) == 0
    assert main(site.argv("inspect", *date)) == 0
    assert main(site.argv("split", "--no-upload", *date)) == 0
    found = {
        str(path.relative_to(site.root)): path.read_bytes()
        for folder in (site.report_dir / "report-output-files", site.root / "groups")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    found["lustre_usage"] = repr(site.usage_rows()).encode()
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_every_job_publishes_the_same_bytes_on_both_paths(
    tmp_path: Path, lfs_quotas: None, workers: int
) -> None:
    results = {}
    for path in (kernel.COMPILED, kernel.NUMPY):
        with on_kernel_path(path):
            site = make_site(tmp_path, name=path)
            site.config.write_text(site.config.read_text() + INSPECTOR_ROOTS)
            if path == kernel.COMPILED:
                site.add_set(DAY)  # the sites share their inputs
            results[path] = outputs(site, workers)
    compiled, numpy_path = results[kernel.COMPILED], results[kernel.NUMPY]
    assert any(name.endswith(".dat.gz") for name in compiled)  # the split wrote groups
    assert sorted(compiled) == sorted(numpy_path)
    for name, content in compiled.items():
        assert content == numpy_path[name], name


# A deeper cut, a PATH under a root (the regex roots of 115, left out middle
# components), one under no root (taken as the root itself), and a project's tree.
INSPECT_QUERIES = (
    ("--generic", "--depth", "3"),
    ("/lustre/scratch118/humgen/hgi/projects/cohort",),
    ("--generic", "/lustre/scratch115/projects/shared"),
    ("/lustre/scratch118/humgen/old",),
    ("--depth", "0", "/lustre/scratch118/humgen/teams"),
)


def test_inspect_queries_print_the_same_on_both_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed: dict[str, list[str]] = {}
    for path in (kernel.COMPILED, kernel.NUMPY):
        with on_kernel_path(path):
            site = make_site(tmp_path, name=path)
            site.config.write_text(site.config.read_text() + INSPECTOR_ROOTS)
            if path == kernel.COMPILED:
                site.add_set(DAY)
            printed[path] = []
            for query in INSPECT_QUERIES:
                assert main(site.argv("inspect", "--date", DAY.isoformat(), *query)) == 0
                printed[path].append(capsys.readouterr().out)
    assert all(out.count("\n") > 1 for out in printed[kernel.COMPILED]), printed
    assert printed[kernel.COMPILED] == printed[kernel.NUMPY]
