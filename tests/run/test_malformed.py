"""The same malformed lines in every job (spec sections 2.3 and 11): report, inspect and
split count the same lines of one file as malformed, whatever makes them so (an
undecodable path of any kind, a size above 2**63 - 1, a wrong field count), and one
such line in three fails the volume in each of them."""

from __future__ import annotations

import binascii
import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from tests.helpers import base_sections, write_ini, write_mpistat

DAY = dt.date.today() - dt.timedelta(days=1)
R = 1_800_000_000
ROOT = b"/lustre/scratch118"
PROJECT = ROOT + b"/humgen/projects/p1"
JOBS = ("report", "inspect", "split")
# Every test here runs on the compiled kernel and on the numpy path.
pytestmark = pytest.mark.usefixtures("kernel_path")


def _b64(path: bytes) -> bytes:
    return binascii.b2a_base64(path, newline=False)


def _canonical_plus_one(path: bytes) -> bytes:
    """The field of ``path`` (one "=" of padding) with a padding bit set: the character
    before the "=" made the next one of the alphabet (its low bits were zero)."""
    field = _b64(path)
    assert field.endswith(b"=") and not field.endswith(b"==")
    return field[:-2] + bytes([field[-2] + 1]) + b"="


# A path field of every kind that does not decode, each under the inspector's root.
BAD_BASE64_FIELDS = {
    "length 1 mod 4": _b64(PROJECT + b"/abc") + b"Q",  # 42 bytes: whole groups, then one
    "unpadded": _b64(PROJECT + b"/ab")[:-1],
    "non-zero padding bits": _canonical_plus_one(PROJECT + b"/abc"),
    "NUL, first byte of a group": _b64(PROJECT + b"/ab\0cd"),
    "NUL, second byte of a group": _b64(PROJECT + b"/a\0cd"),
    "NUL, third byte of a group": _b64(PROJECT + b"/\0bcd"),
    "NUL, last byte": _b64(PROJECT + b"/x\0"),
}
BAD_QUOTED_FIELDS = {
    "\\x00": b'"' + PROJECT + rb'/a\x00"',
    "\\u0000": b'"' + PROJECT + rb'/a\u0000"',
    "\\U00110000": b'"' + PROJECT + rb'/a\U00110000"',
    "\\ud800": b'"' + PROJECT + rb'/a\ud800"',
    "\\U0000dc00": b'"' + PROJECT + rb'/a\U0000dc00"',
    "raw NUL": b'"' + PROJECT + b'/a\x00"',
    "empty": b'""',
}
KINDS = [(Format.BASE64, k, f) for k, f in BAD_BASE64_FIELDS.items()] + [
    (Format.WRSTAT, k, f) for k, f in BAD_QUOTED_FIELDS.items()
]


def test_the_base64_kinds_are_what_they_say() -> None:
    fields = BAD_BASE64_FIELDS
    assert len(fields["length 1 mod 4"]) % 4 == 1
    assert len(fields["unpadded"]) % 4 != 0
    assert binascii.a2b_base64(fields["non-zero padding bits"]) == PROJECT + b"/abc"
    assert b"\0" in binascii.a2b_base64(fields["NUL, last byte"])


def bad_line(fmt: Format, path_field: bytes, size: int = 1000) -> bytes:
    """A line of team113 (gid 1002) with the given raw path field."""
    line = Record(b"/x", size, 1, 1002, R, R - 86400, R, "f", 77, 1).line(fmt)
    return path_field + line[line.index(b"\t") :]


def good_records() -> list[Record]:
    return [
        Record(ROOT, 4096, 0, 0, R, R, R, "d", 2, 1),
        Record(PROJECT, 4096, 1, 1001, R, R, R, "d", 3, 2),
        Record(PROJECT + b"/a.bam", 5, 1, 1001, R, R - 86400, R, "f", 4, 1),
        Record(PROJECT + b"/t.cram", 7, 1, 1002, R, R - 86400, R, "f", 5, 1),
    ]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sections = base_sections(tmp_path)
    sections["paths"]["max_days_ago"] = 30
    sections["inspector"] = {"118": "lustre/scratch118/humgen/projects"}
    sections["s3"] = {"bucket": "unused", "prefix": "mpistat/"}
    # Both groups have a quota: a missing one would make the report exit 3 (degraded).
    quotas = {name: {"used_kb": 1, "limit_kb": 0} for name in ("hgi", "team113")}
    (tmp_path / "quotas.json").write_text(json.dumps(quotas))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(tmp_path / "quotas.json"))
    return write_ini(tmp_path / "site.ini", sections)


def run(config: Path, job: str, caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    caplog.clear()
    args = ["--config", str(config), job, "--date", DAY.isoformat()]
    if job == "split":
        args.append("--no-upload")
    status = main(args)
    return status, "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("fmt", "kind", "field"), KINDS, ids=[k for _, k, _ in KINDS])
def test_one_undecodable_line_in_three_fails_the_volume_in_every_job(
    config: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fmt: Format,
    kind: str,
    field: bytes,
) -> None:
    records = good_records()
    lines = [records[0].line(fmt), bad_line(fmt, field), records[2].line(fmt)]
    write_mpistat(tmp_path / "mpistat", DAY.strftime("%Y%m%d"), "118", [], fmt, lines, mtime=R)
    for job in JOBS:
        status, log = run(config, job, caplog)
        assert status == 1, (job, log)
        assert "1 of 3 lines are malformed" in log, (job, log)
        assert " line 2: malformed" in log, (job, log)
    assert not (tmp_path / "reports" / "report-output-files").exists()
    assert not (tmp_path / "groups" / DAY.strftime("%Y%m%d")).exists()


@pytest.mark.parametrize("fmt", list(Format))
def test_the_three_jobs_count_the_same_lines_of_a_mixed_file(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, fmt: Format
) -> None:
    (tmp_path / "site.ini").write_text(
        (tmp_path / "site.ini").read_text() + "\n[input]\nmax_bad_fraction = 0.6\n"
    )
    records = good_records()
    fields = BAD_QUOTED_FIELDS if fmt is Format.WRSTAT else BAD_BASE64_FIELDS
    bad = [bad_line(fmt, field) for field in fields.values()]
    good_path = records[3].line(fmt)[: records[3].line(fmt).index(b"\t")]
    bad.append(bad_line(fmt, good_path, size=2**63))  # a size above off_t
    bad.append(b"too\tfew\tfields\n")
    lines = [r.line(fmt) for r in records]  # the root first
    for line in bad:
        lines += [line, records[2].line(fmt), records[3].line(fmt)]
    total = len(lines)
    write_mpistat(tmp_path / "mpistat", DAY.strftime("%Y%m%d"), "118", [], fmt, lines, mtime=R)

    counts = {}
    for job in JOBS:
        status, log = run(config, job, caplog)
        assert status == 0, (job, log)
        found = re.findall(r"skipped (\d+) malformed of (\d+) lines", log)
        assert len(found) == 1, (job, log)
        counts[job] = (int(found[0][0]), int(found[0][1]))
    assert counts == {job: (len(bad), total) for job in JOBS}

    # None of the malformed lines' bytes (1000 each, of team113) reached the report.
    tsv = tmp_path / "reports" / "report-output-files" / f"report-{DAY.strftime('%Y%m%d')}.tsv"
    used = {
        cells[2]: int(cells[3])
        for cells in (line.split("\t") for line in tsv.read_text().splitlines()[1:])
    }
    assert used["team113"] == 7 * (1 + len(bad))


def test_a_clean_line_is_logged_nowhere(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    write_mpistat(tmp_path / "mpistat", DAY.strftime("%Y%m%d"), "118", good_records(), mtime=R)
    for job in JOBS:
        status, log = run(config, job, caplog)
        assert status == 0 and "malformed" not in log, (job, log)
