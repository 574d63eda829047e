"""Uploading the split output to S3: a moto server on 127.0.0.1, behind a proxy that
counts requests or fails the first ones, and a server that never answers."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from humgen_storage.config import S3Config
from humgen_storage.config.load import load_config
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.inputs import set_from_files
from humgen_storage.split import job as split_job
from humgen_storage.split.upload import SHA256_METADATA, file_sha256, upload_directory
from tests.helpers import write_mpistat
from tests.services.s3 import s3_client
from tests.split.sites import DAY, Site, make_site, root

FAST_RETRIES = {"backoff_base": 0.01, "backoff_max": 0.05, "connect_timeout": 2, "read_timeout": 5}


def site_with_s3(tmp_path: Path, endpoint: str, bucket: str, **s3: object) -> Site:
    return make_site(
        tmp_path,
        s3={"endpoint_url": endpoint, "bucket": bucket, "prefix": "mpistat/", **FAST_RETRIES, **s3},
    )


def input_files(site: Site, day: str = DAY) -> list[Path]:
    a = [root("118")] + [
        Record(b"/lustre/scratch118/h/%d" % n, n, 1, 1001 + n % 2) for n in range(50)
    ]
    b = [root("119"), Record(b"/lustre/scratch119/\xff\tx", 5, 1, 1001)]
    return [write_mpistat(site.mpistat, day, "118", a), write_mpistat(site.mpistat, day, "119", b)]


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = s3_client(endpoint)
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
    }


def local_files(directory: Path) -> dict[str, bytes]:
    """The objects a split directory makes: its files but the hidden ``.uploaded`` marker."""
    return {
        f"mpistat/{p.name}": p.read_bytes()
        for p in directory.iterdir()
        if not p.name.startswith(".")
    }


def test_upload_then_second_upload_transfers_nothing(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_proxy_factory: Any
) -> None:
    proxy = s3_proxy_factory(0)
    site = site_with_s3(tmp_path, proxy.url, s3_bucket)
    files = input_files(site)

    assert site.split(*files) == 0

    uploaded = objects(s3_endpoint, s3_bucket)
    assert uploaded == local_files(site.dated)
    assert sorted(uploaded) == [
        "mpistat/groupfile",
        "mpistat/hgi.dat.gz",
        "mpistat/index.txt",
        "mpistat/passwdfile",
        "mpistat/team113.dat.gz",
    ]
    assert gzip.decompress(uploaded["mpistat/hgi.dat.gz"]).count(b"\n") == 26
    # the index goes last: a reader starting from it finds every file it lists
    puts = [r.path for r in proxy.requests if r.method == "PUT"]
    assert puts[-1].endswith("/mpistat/index.txt")
    writes_before = proxy.count("PUT", "POST")
    assert writes_before == 5

    # the same input again: the rebuilt files are byte-identical, so nothing is sent
    assert site.split(*files) == 0
    assert proxy.count("PUT", "POST") == writes_before
    assert objects(s3_endpoint, s3_bucket) == local_files(site.dated)


def test_server_failing_the_first_two_tries_still_gets_everything(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    s3_proxy_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = s3_proxy_factory(2)  # the first two PUT/POST requests get "503 Slow Down"
    site = site_with_s3(tmp_path, proxy.url, s3_bucket, max_attempts=5)
    assert site.split(*input_files(site)) == 0
    assert sum(r.status == 503 for r in proxy.requests) == 2
    assert objects(s3_endpoint, s3_bucket) == local_files(site.dated)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and "try 1 of 5" in retries[0] and "try 2 of 5" in retries[1]
    assert "503" in retries[0] and "SlowDown" in retries[0]


def test_server_that_never_answers_fails_quickly_naming_the_file(
    tmp_path: Path, silent_s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_with_s3(
        tmp_path,
        silent_s3_endpoint,
        "branchserve",
        max_attempts=2,
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    started = time.monotonic()
    assert site.split(*input_files(site)) == 1
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if "ERROR" in line]
    assert len(failures) == 1, err
    # the first file in upload order, its target, the number of tries and why
    shown = site.dated / "groupfile"
    assert (
        f"upload of {shown} to s3://branchserve/mpistat/groupfile failed after 2 tries"
        in failures[0]
    )
    assert "timeout" in failures[0].lower()
    assert "Traceback" not in err
    # a failed upload leaves the build without its done-marker: the manager completes it
    assert (site.dated / "index.txt").is_file()
    assert not (site.dated / ".uploaded").exists()
    assert sorted(os.listdir(site.output_dir)) == [site.dated.name]


def test_missing_bucket_is_an_error(
    tmp_path: Path, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_with_s3(tmp_path, s3_endpoint, "no-such-bucket")
    assert site.split(*input_files(site)) == 1
    err = capsys.readouterr().err
    assert f"bucket 'no-such-bucket' does not exist at {s3_endpoint}" in err
    assert not (site.dated / ".uploaded").exists()


def test_no_upload_sends_nothing(tmp_path: Path, s3_bucket: str, s3_proxy_factory: Any) -> None:
    proxy = s3_proxy_factory(0)
    site = site_with_s3(tmp_path, proxy.url, s3_bucket)
    assert site.split("--no-upload", *input_files(site)) == 0
    assert site.dated.is_dir()
    assert not (site.dated / ".uploaded").exists()  # the night's manager still uploads it
    assert proxy.requests == []


def test_managed_run_builds_and_uploads(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    site = site_with_s3(tmp_path, s3_endpoint, s3_bucket)
    config = load_config(site.config)
    input_set = set_from_files(input_files(site), None)
    marker = split_job.done_marker(config, dt.date(2026, 11, 20))
    assert marker == site.dated / ".uploaded" and not marker.exists()
    assert split_job.run_managed(config, input_set) == 0
    assert marker.is_file()
    assert objects(s3_endpoint, s3_bucket) == local_files(site.dated)


def test_multipart_upload_and_checksum_skip(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    directory = tmp_path / "out"
    directory.mkdir()
    big = os.urandom(11 * 2**20 + 123)  # three parts of 5 MiB
    (directory / "big.dat.gz").write_bytes(big)
    (directory / "small").write_bytes(b"tiny")
    config = S3Config(
        bucket=s3_bucket,
        prefix="p/",
        endpoint_url=s3_endpoint,
        multipart_threshold=5 * 2**20,
        multipart_chunksize=5 * 2**20,
        **FAST_RETRIES,  # type: ignore[arg-type]
    )
    first = upload_directory(directory, config)
    assert (first.uploaded, first.skipped) == (2, 0)
    client = s3_client(s3_endpoint)
    head = client.head_object(Bucket=s3_bucket, Key="p/big.dat.gz")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert head["Metadata"][SHA256_METADATA] == file_sha256(directory / "big.dat.gz")
    assert objects(s3_endpoint, s3_bucket) == {"p/big.dat.gz": big, "p/small": b"tiny"}

    second = upload_directory(directory, config)
    assert (second.uploaded, second.skipped) == (0, 2)

    # same size, different bytes: uploaded again
    (directory / "small").write_bytes(b"TINY")
    third = upload_directory(directory, config)
    assert (third.uploaded, third.skipped) == (1, 1)
    assert objects(s3_endpoint, s3_bucket)["p/small"] == b"TINY"


# ------------------------------------------------------------------ the .uploaded marker


def manage_split(site: Site) -> int:
    return main(["--config", site.config, "manage", "split"])


def marker_lines(directory: Path) -> list[str]:
    return (directory / ".uploaded").read_text(encoding="utf-8").splitlines()


def test_no_upload_then_manage_uploads_every_object_and_marks_it(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    s3_proxy_factory: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = s3_proxy_factory(0)
    site = site_with_s3(tmp_path, proxy.url, s3_bucket)
    stamp = dt.date.today().strftime("%Y%m%d")  # the manager's newest complete set
    dated = site.output_dir / stamp
    assert site.split("--no-upload", *input_files(site, stamp)) == 0
    assert (dated / "index.txt").is_file() and not (dated / ".uploaded").exists()
    assert proxy.requests == []
    capsys.readouterr()

    # The 02:00 manager finds the build without its marker: it uploads it, then marks it.
    assert manage_split(site) == 0
    assert "is built but not marked uploaded; uploading it" in capsys.readouterr().err
    assert objects(s3_endpoint, s3_bucket) == local_files(dated)
    assert proxy.count("PUT", "POST") == 5
    names = ["groupfile", "hgi.dat.gz", "passwdfile", "team113.dat.gz", "index.txt"]
    assert marker_lines(dated) == [
        f"# uploaded to s3://{s3_bucket}/mpistat/ at {proxy.url}",
        *(
            f"mpistat/{name}\t{(dated / name).stat().st_size}\t{file_sha256(dated / name)}"
            for name in names
        ),
    ]

    # The next manager: done, and nothing sent.
    assert manage_split(site) == 0
    assert f"already done ({dated / '.uploaded'} exists)" in capsys.readouterr().err
    assert proxy.count("PUT", "POST") == 5


def test_failed_upload_names_what_was_and_was_not_sent_and_the_next_run_completes_it(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    s3_proxy_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Yesterday's objects are there; a policy denies writing one key.
    client = s3_client(s3_endpoint)
    for name in ("team113.dat.gz", "index.txt"):
        client.put_object(Bucket=s3_bucket, Key=f"mpistat/{name}", Body=b"yesterday")
    proxy = s3_proxy_factory(0)
    proxy.deny_key = f"{s3_bucket}/mpistat/passwdfile"
    site = site_with_s3(tmp_path, proxy.url, s3_bucket)
    stamp = dt.date.today().strftime("%Y%m%d")
    dated = site.output_dir / stamp
    input_files(site, stamp)

    # Two objects were updated before the refusal: the night is partly in S3, which is
    # "written but degraded" (SPEC §8), not a run that wrote nothing.
    assert manage_split(site) == 3
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    where = f"s3://{s3_bucket}/mpistat/"
    assert (
        "WARNING",
        f"upload to {where} stopped: 2 objects hold the new files (2 sent now, 0 already"
        " there): mpistat/groupfile mpistat/hgi.dat.gz",
    ) in messages
    assert (
        "WARNING",
        f"upload to {where} stopped: 3 objects not updated (each keeps its previous version,"
        " if any): mpistat/passwdfile mpistat/team113.dat.gz mpistat/index.txt",
    ) in messages
    errors = [message for level, message in messages if level == "ERROR"]
    assert errors == [
        f"manage: upload of {dated / 'passwdfile'} to {where}passwdfile failed: access denied"
        " (AccessDenied): check the S3 credentials and the bucket's policy; the objects not"
        " updated keep their previous version; the next run uploads them"
    ]
    held = objects(s3_endpoint, s3_bucket)
    assert held["mpistat/groupfile"] == (dated / "groupfile").read_bytes()
    assert held["mpistat/hgi.dat.gz"] == (dated / "hgi.dat.gz").read_bytes()
    assert held["mpistat/team113.dat.gz"] == held["mpistat/index.txt"] == b"yesterday"
    assert "mpistat/passwdfile" not in held
    assert not (dated / ".uploaded").exists()

    # The policy is fixed: the next run sends only what is missing, then marks.
    proxy.deny_key = None
    seen = len(proxy.requests)
    assert manage_split(site) == 0
    sent = [r.path.rsplit("/", 1)[1] for r in proxy.requests[seen:] if r.method in ("PUT", "POST")]
    assert sent == ["passwdfile", "team113.dat.gz", "index.txt"]
    assert objects(s3_endpoint, s3_bucket) == local_files(dated)
    assert len(marker_lines(dated)) == 6
