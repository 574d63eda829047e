"""The command line: global options before the command, lazy but typed commands, one
map from errors to exit statuses and messages (spec section 8)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from humgen_storage.cli import COMMANDS, StandaloneEntry, main, run_command
from humgen_storage.errors import (
    DatabaseError,
    DirectoryError,
    HumgenError,
    InputError,
    JobFailed,
    Terminated,
    UploadError,
    UsageError,
)
from humgen_storage.mpistat.writer import Record
from tests.helpers import REPO, base_sections, write_ini, write_mpistat

HEAVY_MODULES = ("numpy", "boto3", "botocore", "ldap3", "pymysql")


def test_a_config_value_that_names_a_command_is_not_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `split` is the value of --config here; the command is `report`.
    assert main(["--config", "split", "report", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: humgen-storage report ")
    assert "--stage-only" in out and "--force" in out
    assert main(["--config", "report", "split", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: humgen-storage split ")
    assert "--no-upload" in out and "--stage-only" not in out


def test_global_options_after_the_command_still_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_ini(tmp_path / "site.ini", base_sections(tmp_path)))
    assert main(["schema", "-v", "--config", path]) == 0
    assert main(["-v", "--config", path, "schema"]) == 0


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["lsf", "--help"], ["report", "--help"]]
)
def test_version_help_and_the_cron_helper_import_no_heavy_module(argv: list[str]) -> None:
    # A fresh interpreter, so that nothing imported by other tests hides an import.
    probe = (
        "import sys\n"
        "from humgen_storage.cli import main\n"
        f"status = main({argv!r})\n"
        f"heavy = sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)\n"
        "print('HEAVY', ' '.join(heavy))\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    heavy = done.stdout.rsplit("HEAVY", 1)[1].split()
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line}
    if argv[0] == "report":
        # the report's options need its module, which needs numpy; not boto3
        assert "boto3" not in heavy
        return
    assert heavy == []
    assert not imported & set(HEAVY_MODULES)
    # --version and --help load no command module at all
    if argv[0].startswith("--"):
        # but the module that says which kernel is active (the standard library only)
        loaded = {m for m in imported if m.startswith("humgen_storage.") and "." in m[15:]}
        assert loaded <= {"humgen_storage.mpistat.kernel"}


def test_every_command_satisfies_its_protocol() -> None:
    for name, entry in COMMANDS.items():
        command = entry.load()
        assert callable(command.add_arguments) and callable(command.run), name
    assert isinstance(COMMANDS["crawl"], StandaloneEntry)


class _Raising:
    """A command whose run raises the error it was given."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.__doc__ = "a test command"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace, config: None) -> int:
        raise self.error


def _run(error: BaseException, verbose: bool = False) -> int:
    entry = StandaloneEntry("report", "a test command", lambda: _Raising(error))
    parser = argparse.ArgumentParser(prog="humgen-storage")
    return run_command(entry, argparse.Namespace(verbose=verbose), parser)


@pytest.mark.parametrize(
    "error",
    [
        DirectoryError("LDAP server ldap://ldap.example.org: cannot connect: timed out"),
        DatabaseError("cannot connect to 'mysql://u@db:3306/x': timed out"),
        UploadError("upload of groupfile to s3://bucket/groupfile failed after 5 tries: 503"),
        InputError("/data/20261120_118.dat.gz: truncated gzip stream"),
    ],
)
def test_an_outage_reads_the_same_in_every_job(
    error: HumgenError, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert _run(error) == 1
    assert [r.getMessage() for r in caplog.records] == [f"report: {error}; {error.outcome}"]
    # A failed upload has sent some objects: it says what it left, not "nothing".
    assert error.outcome == "nothing was written" or isinstance(error, UploadError)


def test_job_failed_logs_each_reason_then_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert _run(JobFailed("2 of 3 volumes failed", ["volume 118: x", "volume 119: y"])) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "volume 118: x",
        "volume 119: y",
        "report: 2 of 3 volumes failed; nothing was written",
    ]


def test_usage_error_is_exit_2_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(UsageError("--volume goes with --stage-only")) == 2
    err = capsys.readouterr().err
    assert err == (
        "usage: humgen-storage [-h]\n"
        "humgen-storage report: error: --volume goes with --stage-only\n"
    )


def test_a_bug_is_named_with_its_type(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert _run(ZeroDivisionError("division by zero")) == 1
        assert _run(KeyboardInterrupt()) == 130
        assert _run(Terminated(signal.SIGTERM)) == 143
    assert [r.getMessage() for r in caplog.records] == [
        "report failed: ZeroDivisionError: division by zero (run with -v for details)",
        "report: interrupted (SIGINT); nothing was written",
        "report: terminated (SIGTERM); nothing was written",
    ]


@pytest.mark.parametrize("job", ["report", "split"])
def test_an_ldap_outage_fails_the_job_in_one_line(
    job: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sections = base_sections(tmp_path)
    del sections["ldap"]["ldif"]
    # port 1 on loopback: nothing listens, so the connection is refused at once
    sections["ldap"].update(url="ldap://127.0.0.1:1", timeout=5)
    config = str(write_ini(tmp_path / "site.ini", sections))
    record = Record(path=b"/lustre/scratch118/a", size=1, uid=1, gid=1, mtime=1, ctime=1)
    data = write_mpistat(tmp_path / "mpistat", "20261120", "118", [record])
    with caplog.at_level(logging.ERROR):
        assert main(_argv(config, job, data)) == 1
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{job}: LDAP server ldap://127.0.0.1:1: cannot connect: ")
    assert messages[0].endswith("; nothing was written")


def _argv(config: str, job: str, data: Path) -> list[str]:
    extra = ["--no-upload"] if job == "split" else []
    return ["--config", config, job, *extra, str(data)]
