"""The bsub argument lists submit builds: pure functions, no subprocess, no LSF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from humgen_storage.children import child_environment, is_secret
from humgen_storage.config import Config
from humgen_storage.config.load import load_config
from humgen_storage.errors import JobFailed
from humgen_storage.submit.requests import (
    Resources,
    Submission,
    array_plan,
    config_argument,
    lsf_word,
    manager_submission,
    resources,
    split_volume_list,
    volume_at,
)
from tests.helpers import base_sections, write_ini

SCRIPTS = Path("/opt/humgen/bin")
TODAY = dt.date(2026, 3, 9)  # the day cron runs: names the logs
SET_DATE = dt.date(2026, 3, 8)  # the newest complete set's date: names the array


@pytest.fixture
def config(tmp_path: Path) -> Config:
    sections = base_sections(tmp_path)
    sections["volumes"]["report"] = "118 115 123"
    sections["lsf"] = {
        "group": "hgi",
        "queue": "normal",
        "report_memory_mb": 3000,
        "report_cores": 2,
        "split_memory_mb": 6000,
        "split_cores": 3,
    }
    return load_config(write_ini(tmp_path / "humgen_storage.ini", sections))


def test_manager_submission_argv(config: Config, tmp_path: Path) -> None:
    ini = str(tmp_path / "humgen_storage.ini")
    logs = tmp_path / "reports" / "report-logs"
    argv = manager_submission(config, "report", SCRIPTS, TODAY, environ={}).argv()
    assert argv == [
        "bsub",
        "-G", "hgi",
        "-q", "normal",
        "-M", "3000",
        "-R", "select[mem>3000] rusage[mem=3000] span[hosts=1]",
        "-n", "2",
        "-J", "humgen-report",
        "-o", f"{logs}/2026-03-09.%J.out",
        "-e", f"{logs}/2026-03-09.%J.err",
        "/opt/humgen/bin/reportmanager.sh", "--config", ini,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("job", "script", "memory", "cores"),
    [
        ("inspect", "inspector_manager.sh", 3000, 2),  # no keys of its own: the report's
        ("split", "group_splitter_manager.sh", 6000, 3),
    ],
)
def test_each_job_gets_its_script_logs_and_requests(
    config: Config, tmp_path: Path, job: str, script: str, memory: int, cores: int
) -> None:
    submission = manager_submission(config, job, SCRIPTS, TODAY, environ={})
    assert submission.name == f"humgen-{job}"
    assert submission.resources == Resources("hgi", "normal", memory, cores)
    assert submission.out == tmp_path / "reports" / f"{job}-logs" / "2026-03-09.%J.out"
    assert submission.command[0] == f"/opt/humgen/bin/{script}"
    assert submission.dependency is None


def test_environment_wins_over_the_file(config: Config) -> None:
    environ = {
        "HUMGEN_LSF_GROUP": "team113",
        "HUMGEN_LSF_QUEUE": "long",
        "HUMGEN_LSF_MEMORY_MB": "8000",
        "HUMGEN_LSF_CORES": " 8 ",
    }
    assert resources(config, "split", environ) == Resources("team113", "long", 8000, 8)
    # An empty variable is unset, as in the shell.
    assert resources(config, "report", {"HUMGEN_LSF_QUEUE": ""}).queue == "normal"
    for bad in ("many", "0", "-3"):
        with pytest.raises(JobFailed, match=r"\$HUMGEN_LSF_CORES: expected a positive"):
            resources(config, "report", {"HUMGEN_LSF_CORES": bad})


def test_array_plan(config: Config, tmp_path: Path) -> None:
    ini = str(tmp_path / "humgen_storage.ini")
    logs = tmp_path / "reports" / "report-logs"
    plan = array_plan(config, SET_DATE, SCRIPTS, TODAY, environ={})
    assert plan.volumes == ("118", "115", "123")
    assert plan.stage.argv() == [
        "bsub",
        "-G", "hgi",
        "-q", "normal",
        "-M", "3000",
        "-R", "select[mem>3000] rusage[mem=3000] span[hosts=1]",
        "-n", "1",  # an element reads one volume in one process
        "-J", "humgen-report-stage-2026-03-08[1-3]",
        "-o", f"{logs}/2026-03-09.%J.%I.out",
        "-e", f"{logs}/2026-03-09.%J.%I.err",
        "/opt/humgen/bin/report_stage.sh", "--config", ini,
        "--date", "2026-03-08", "--volumes", "118,115,123",
    ]  # fmt: skip
    assert plan.finalise.argv() == [
        "bsub",
        "-G", "hgi",
        "-q", "normal",
        "-M", "3000",
        "-R", "select[mem>3000] rusage[mem=3000] span[hosts=1]",
        "-n", "2",
        "-J", "humgen-report-finalise-2026-03-08",
        "-o", f"{logs}/2026-03-09.%J.out",
        "-e", f"{logs}/2026-03-09.%J.err",
        "-w", "ended(humgen-report-stage-2026-03-08)",
        "/opt/humgen/bin/humgen_storage.sh", "--config", ini,
        "report", "--finalise", "--date", "2026-03-08",
    ]  # fmt: skip


def test_array_needs_volumes(tmp_path: Path) -> None:
    sections = base_sections(tmp_path)
    sections["volumes"]["report"] = ""
    config = load_config(write_ini(tmp_path / "empty.ini", sections))
    with pytest.raises(JobFailed, match=r"\[volumes\] report lists no volumes"):
        array_plan(config, SET_DATE, SCRIPTS, TODAY, environ={})


def test_config_argument_is_absolute(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = load_config(Path("humgen_storage.ini"))
    assert config_argument(relative) == str(tmp_path.resolve() / "humgen_storage.ini")


@pytest.mark.parametrize(
    ("word", "quoted"),
    [
        ("/lustre/scratch118/reports", "/lustre/scratch118/reports"),
        ("118,115", "118,115"),
        ("--date=2026-03-08", "--date=2026-03-08"),
        ("done(x)", "'done(x)'"),
        ("/a b/c.ini", "'/a b/c.ini'"),
        ("it's", "'it'\\''s'"),
        ("$HOME", "'$HOME'"),
        ("", "''"),
        ("é", "'é'"),  # only ASCII is plain: a shell's locale may split the bytes otherwise
    ],
)
def test_lsf_word(word: str, quoted: str) -> None:
    assert lsf_word(word) == quoted


def test_command_words_are_quoted_for_lsf_shell() -> None:
    submission = Submission(
        name="n",
        resources=Resources("g", "q", 1, 1),
        out=Path("/o"),
        err=Path("/e"),
        command=("/bin/x.sh", "--config", "/my configs/a;b.ini"),
    )
    assert submission.argv()[-3:] == ["/bin/x.sh", "--config", "'/my configs/a;b.ini'"]


def test_child_environment_drops_the_secrets() -> None:
    environ = {
        "HUMGEN_MYSQL_PASSWORD": "s1",
        "HUMGEN_LDAP_PASSWORD": "s2",
        "HUMGEN_ANY_PASSWORD_FILE": "s3",
        "AWS_SECRET_ACCESS_KEY": "s4",
        "AWS_SESSION_TOKEN": "s5",
        "AWS_ACCESS_KEY_ID": "id",
        "HUMGEN_LSF_QUEUE": "long",
        "MY_PASSWORD": "not ours",
        "PATH": "/bin",
    }
    assert child_environment(environ) == {
        "AWS_ACCESS_KEY_ID": "id",
        "HUMGEN_LSF_QUEUE": "long",
        "MY_PASSWORD": "not ours",
        "PATH": "/bin",
    }
    assert is_secret("HUMGEN_MYSQL_PASSWORD") and not is_secret("HUMGEN_STORAGE_CONFIG")


def test_array_element_volume() -> None:
    assert split_volume_list("118,115, 123 ,") == ["118", "115", "123"]
    assert split_volume_list("118 115") == ["118", "115"]
    volumes = ["118", "115"]
    assert volume_at(volumes, 1, "here") == "118"
    assert volume_at(volumes, 2, "here") == "115"
    for outside in (0, 3):
        with pytest.raises(JobFailed, match=rf"array index {outside} is outside 1-2: here lists"):
            volume_at(volumes, outside, "here")
    with pytest.raises(JobFailed, match="outside 1-0: here lists nothing"):
        volume_at([], 1, "here")
