"""The Prometheus textfile (SPEC §12): valid for `promtool check metrics` after every
outcome, and parsed back to the values of each job's last run."""

from __future__ import annotations

import gzip
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.run.metrics import parse, render, update
from humgen_storage.run.record import RunRecord, VolumeCounts
from tests.sites import TODAY, Site

P = "humgen_storage_"


def promtool() -> str:
    """Installed by `make services` (Debian's prometheus package): missing is a failure."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `make services` (apt: prometheus)")
    return path


def check(textfile: Path) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=textfile.read_bytes(),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# A reader written from the text format, independent of run/metrics.py's parser.
_LINE = re.compile(r'^(\w+)\{job="(\w+)"(?:,volume="(\w+)")?\} (\S+)$')


def values(textfile: Path) -> dict[tuple[str, str, str | None], float]:
    out = {}
    text = textfile.read_text()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _LINE.match(line)
        assert match, line
        name, job, volume, value = match.groups()
        out[(name.removeprefix(P), job, volume)] = float(value)
    for name in {key[0] for key in out}:
        assert f"# HELP {P}{name} " in text and f"# TYPE {P}{name} " in text
    return out


@pytest.fixture
def textfile(site: Site) -> Path:
    path = site.root / "node-exporter" / "humgen.prom"
    with site.config.open("a") as config:
        config.write(f"\n[metrics]\ntextfile = {path}\n")
    return path


def lines_of(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        return sum(1 for _ in handle)


def test_success_failure_and_nothing_to_do(site: Site, textfile: Path) -> None:
    files = site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    check(textfile)
    first = values(textfile)
    assert first[("last_run_exit_status", "report", None)] == 0
    assert (
        first[("last_success_timestamp_seconds", "report", None)]
        == first[("last_run_timestamp_seconds", "report", None)]
    )
    assert first[("lines_total", "report", "118")] == lines_of(files[0])
    assert first[("lines_total", "report", "115")] == lines_of(files[1])
    assert first[("malformed_lines_total", "report", "118")] == 0
    assert first[("run_duration_seconds", "report", None)] >= 0
    assert stat.S_IMODE(textfile.stat().st_mode) == 0o644  # under the tests' umask 022

    # nothing to do: a run, and a success; the counts of the last read stay
    assert main(site.argv("manage", "report")) == 0
    check(textfile)
    second = values(textfile)
    assert second[("last_run_exit_status", "report", None)] == 0
    assert (
        second[("last_success_timestamp_seconds", "report", None)]
        == second[("last_run_timestamp_seconds", "report", None)]
        >= first[("last_run_timestamp_seconds", "report", None)]
    )
    assert second[("lines_total", "report", "118")] == lines_of(files[0])

    # a failure: the last run says 1, the last success stays the one before
    for path in files:
        path.unlink()
    assert main(site.argv("manage", "report")) == 1
    check(textfile)
    third = values(textfile)
    assert third[("last_run_exit_status", "report", None)] == 1
    assert (
        third[("last_success_timestamp_seconds", "report", None)]
        == second[("last_success_timestamp_seconds", "report", None)]
    )
    assert (
        third[("last_run_timestamp_seconds", "report", None)]
        >= second[("last_run_timestamp_seconds", "report", None)]
    )
    assert not [p for p in textfile.parent.iterdir() if p != textfile]  # no temporary left


def test_a_failure_as_the_first_run(site: Site, textfile: Path) -> None:
    assert main(site.argv("manage", "inspect")) == 1  # no input set
    check(textfile)
    found = values(textfile)
    assert set(found) == {
        ("last_run_timestamp_seconds", "inspect", None),
        ("last_run_exit_status", "inspect", None),
        ("run_duration_seconds", "inspect", None),
    }  # never a success, no volume read
    assert found[("last_run_exit_status", "inspect", None)] == 1


def test_each_job_keeps_the_others_values(site: Site, textfile: Path) -> None:
    site.add_set(TODAY)
    assert main(site.argv("manage", "report")) == 0
    report = {k: v for k, v in values(textfile).items() if k[1] == "report"}
    # The site has no inspector roots: inspect fails, and its series join the report's.
    assert main(site.argv("manage", "inspect")) == 1
    check(textfile)
    after = values(textfile)
    assert {k: v for k, v in after.items() if k[1] == "report"} == report
    assert after[("last_run_exit_status", "inspect", None)] == 1


def test_label_values_are_escaped_and_read_back(tmp_path: Path) -> None:
    record = RunRecord(command="manage", job="report", started=100.0)
    odd = 'a"b\\c\nd'
    record.volumes = {odd: VolumeCounts(lines=7, malformed=2), "118": VolumeCounts(5, 0)}
    record.finish(3)
    record.finished = 160.5
    text = render(update({}, record))
    assert f'{P}lines_total{{job="report",volume="a\\"b\\\\c\\nd"}} 7' in text.splitlines()
    path = tmp_path / "m.prom"
    path.write_text(text)
    check(path)
    samples = parse(text)
    assert samples[f"{P}malformed_lines_total"][(("job", "report"), ("volume", odd))] == 2
    assert samples[f"{P}last_run_exit_status"][(("job", "report"),)] == 3
    assert samples[f"{P}last_success_timestamp_seconds"][(("job", "report"),)] == 160.5
    assert samples[f"{P}run_duration_seconds"][(("job", "report"),)] == 60.5
    assert render(parse(text)) == text  # a round trip changes nothing


def test_no_metrics_for_a_stage_only_element(site: Site, textfile: Path) -> None:
    site.add_set(TODAY)
    argv = site.argv("report", "--stage-only", "--volume", "118", "--date", TODAY.isoformat())
    assert main(argv) == 0
    assert not textfile.exists()
