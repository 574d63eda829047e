"""The fixtures/bin stand-ins for lfs and bsub print what the real commands print."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE_BIN = REPO / "fixtures" / "bin"

# Column layout of the real `lfs quota`: the mount right-aligned in 15, then for blocks
# and inodes " %7s%c %6s %7s %7s" (used, over-limit mark, quota, limit, grace).
BLANK_MOUNT = " " * 15


def row(used: str, mark: str, soft: str, hard: str, grace: str) -> str:
    return f" {used:>7}{mark} {soft:>6} {hard:>7} {grace:>7}"


NO_FILES = row("0", " ", "0", "0", "-")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in list(os.environ):
        if name.startswith(("LSB_", "LSF_", "FAKE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAKE_LFS_LOG", str(tmp_path / "lfs.jsonl"))
    monkeypatch.setenv("FAKE_BSUB_LOG", str(tmp_path / "bsub.jsonl"))
    quotas = {
        "hgi": {"used_kb": 1234, "limit_kb": 5000},
        "big": {"used_kb": 6000, "limit_kb": 5000},
        "soft": {"used_kb": 4500, "soft_kb": 4000, "limit_kb": 5000, "files": 12},
        "longfs": {"used_kb": 1, "limit_kb": 2, "wrap": True},
        "brackets": {"used_kb": 5, "limit_kb": 10, "brackets": True},
        "broken": {"fail": "lfs quota: cannot resolve group"},
        "free": {"limit_kb": 0},
        "permount": {"limit_kb": 1, "mounts": {"/lustre/s119": {"limit_kb": 2}}},
    }
    (tmp_path / "quotas.json").write_text(json.dumps(quotas))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(tmp_path / "quotas.json"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stand_ins_are_executable_scripts() -> None:
    for name in ("lfs", "bsub"):
        path = FAKE_BIN / name
        assert os.access(path, os.X_OK)
        assert path.read_text().startswith("#!/usr/bin/env -S python3 -S\n")


# --- lfs --------------------------------------------------------------------------


def test_lfs_quota_short_mount_is_one_line(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "hgi", "/lustre/s118")
    assert result.returncode == 0
    assert result.stderr == ""
    assert (
        result.stdout
        == f"{'/lustre/s118':>15}" + row("1234", " ", "5000", "5000", "-") + NO_FILES + "\n"
    )


def test_lfs_quota_long_mount_puts_numbers_on_the_next_line(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "hgi", "/lustre/scratch118")
    assert result.stdout == (
        "/lustre/scratch118\n"
        + BLANK_MOUNT
        + row("1234", " ", "5000", "5000", "-")
        + NO_FILES
        + "\n"
    )


def test_lfs_quota_wrap_option_wraps_a_short_mount(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "longfs", "/l/s")
    assert result.stdout == "/l/s\n" + BLANK_MOUNT + row("1", " ", "2", "2", "-") + NO_FILES + "\n"


def test_lfs_quota_marks_over_hard_limit(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "big", "/l/s")
    assert (
        result.stdout == f"{'/l/s':>15}" + row("6000", "*", "5000", "5000", "-") + NO_FILES + "\n"
    )


def test_lfs_quota_over_soft_quota_shows_grace(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "soft", "/l/s")
    files = row("12", " ", "0", "0", "-")
    assert (
        result.stdout
        == f"{'/l/s':>15}" + row("4500", "*", "4000", "5000", "6d23h59m") + files + "\n"
    )


def test_lfs_quota_brackets_and_inaccurate_trailer(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "brackets", "/l/s")
    first, trailer = result.stdout.splitlines()
    assert first == f"{'/l/s':>15}" + row("5", " ", "[10]", "[10]", "-") + row(
        "0", " ", "[0]", "[0]", "-"
    )
    assert 'The data in "[]" is inaccurate.' in trailer
    assert result.returncode == 0


def test_lfs_quota_zero_limit(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "free", "/l/s")
    assert result.stdout.split()[1:4] == ["0", "0", "0"]


def test_lfs_quota_option_order_and_user_variants(env: Path) -> None:
    expected = run("lfs", "quota", "-q", "-g", "hgi", "/l/s").stdout
    assert run("lfs", "quota", "-g", "hgi", "-q", "/l/s").stdout == expected
    assert run("lfs", "quota", "-g", "-q", "hgi", "/l/s").stdout == expected
    assert run("lfs", "quota", "-q", "-u", "hgi", "/l/s").stdout == expected


def test_lfs_quota_without_q_prints_the_header(env: Path) -> None:
    lines = run("lfs", "quota", "-g", "hgi", "/l/s").stdout.splitlines()
    assert lines[0] == "Disk quotas for grp hgi (gid 1000):"
    assert lines[1].split() == [
        "Filesystem",
        "kbytes",
        "quota",
        "limit",
        "grace",
        "files",
        "quota",
        "limit",
        "grace",
    ]
    assert lines[1].startswith("     Filesystem  kbytes   quota   limit   grace")
    assert len(lines) == 3


def test_lfs_quota_per_mount_override(env: Path) -> None:
    assert run("lfs", "quota", "-q", "-g", "permount", "/lustre/s118").stdout.split()[3] == "1"
    assert run("lfs", "quota", "-q", "-g", "permount", "/lustre/s119").stdout.split()[3] == "2"


def test_lfs_quota_unknown_group_fails_like_the_real_tool(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "nosuch", "/l/s")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "lfs quota: invalid id 'nosuch'\n"


def test_lfs_quota_numeric_id_has_no_usage(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "4242", "/l/s")
    assert result.returncode == 0
    assert result.stdout.split()[1:4] == ["0", "0", "0"]


def test_lfs_quota_fail_spec(env: Path) -> None:
    result = run("lfs", "quota", "-q", "-g", "broken", "/l/s")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "lfs quota: cannot resolve group\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["quota", "-q", "-z", "-g", "hgi", "/l/s"], "lfs quota: unrecognized option '-z'"),
        (["quota", "-q", "-g", "hgi"], "lfs quota: name and mount point must be specified"),
        (
            ["quota", "-g", "-u", "hgi", "/l/s"],
            "lfs quota: only one of -u, -g, or -p may be specified",
        ),
    ],
)
def test_lfs_quota_usage_errors(env: Path, argv: list[str], message: str) -> None:
    result = run("lfs", *argv)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == message


def test_lfs_logs_every_call_with_its_argv(env: Path) -> None:
    run("lfs", "quota", "-q", "-g", "hgi", "/lustre/scratch118")
    run("lfs", "quota", "-q", "-g", "nosuch", "/l/s")
    calls = log_lines(env / "lfs.jsonl")
    assert [call["argv"] for call in calls] == [
        ["quota", "-q", "-g", "hgi", "/lustre/scratch118"],
        ["quota", "-q", "-g", "nosuch", "/l/s"],
    ]
    assert all(isinstance(call["time"], float) and isinstance(call["pid"], int) for call in calls)


def test_lfs_delay_option(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow.json").write_text(json.dumps({"hgi": {"limit_kb": 1, "delay": 0.3}}))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(tmp_path / "slow.json"))
    started = time.monotonic()
    assert run("lfs", "quota", "-q", "-g", "hgi", "/l/s").returncode == 0
    assert time.monotonic() - started >= 0.3


def test_lfs_hang_option_does_not_answer(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hang.json").write_text(json.dumps({"slow": {"hang": True}}))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(tmp_path / "hang.json"))
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            ["lfs", "quota", "-q", "-g", "slow", "/l/s"], capture_output=True, timeout=0.5
        )


# --- bsub -------------------------------------------------------------------------


def test_bsub_prints_the_submitted_line_with_increasing_ids(env: Path) -> None:
    first = run("bsub", "-q", "long", "echo", "one")
    second = run("bsub", "-q", "normal", "echo", "two")
    assert first.returncode == second.returncode == 0
    assert first.stdout == "Job <1> is submitted to queue <long>.\n"
    assert second.stdout == "Job <2> is submitted to queue <normal>.\n"
    assert first.stderr == ""
    assert (env / "bsub.jsonl.jobid").read_text().strip() == "2"


def test_bsub_without_q_uses_the_default_queue(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("bsub", "true").stdout == "Job <1> is submitted to default queue <normal>.\n"
    monkeypatch.setenv("LSB_DEFAULTQUEUE", "yesterday")
    assert run("bsub", "true").stdout == "Job <2> is submitted to default queue <yesterday>.\n"
    assert log_lines(env / "bsub.jsonl")[1]["env_LSB"] == {"LSB_DEFAULTQUEUE": "yesterday"}


def test_bsub_records_options_and_command(env: Path) -> None:
    requirement = "select[mem>2000] rusage[mem=2000] span[hosts=1]"
    argv = [
        "-J", "report", "-o", "/logs/2026-11-20.%J.out", "-e", "/logs/2026-11-20.%J.err",
        "-G", "hgi", "-q", "normal", "-M", "2000", "-R", requirement, "-n", "4",
        "-env", "all", "bin/reportmanager.sh", "--config", "my file.ini",
    ]  # fmt: skip
    assert run("bsub", *argv).returncode == 0
    [entry] = log_lines(env / "bsub.jsonl")
    assert entry["argv"] == argv
    assert entry["options"] == {
        "J": "report",
        "o": "/logs/2026-11-20.%J.out",
        "e": "/logs/2026-11-20.%J.err",
        "G": "hgi",
        "q": "normal",
        "M": "2000",
        "R": requirement,
        "n": "4",
        "env": "all",
    }
    assert entry["command"] == ["bin/reportmanager.sh", "--config", "my file.ini"]
    assert entry["cwd"] == str(env)
    assert entry["job_id"] == 1
    assert entry["queue"] == "normal"
    assert entry["array"] is None
    assert entry["dependency"] is None


def test_bsub_records_a_job_array(env: Path) -> None:
    run("bsub", "-J", "stage-20261120[1-5]", "-o", "out.%J.%I", "humgen-storage", "report")
    run("bsub", "-J", "odd[1-9:2,12]%3", "true")
    first, second = log_lines(env / "bsub.jsonl")
    assert first["array"] == {
        "name": "stage-20261120",
        "spec": "1-5",
        "indices": [1, 2, 3, 4, 5],
        "limit": None,
    }
    assert second["array"] == {
        "name": "odd",
        "spec": "1-9:2,12",
        "indices": [1, 3, 5, 7, 9, 12],
        "limit": 3,
    }


def test_bsub_records_a_dependency(env: Path) -> None:
    condition = 'done(stage-20261120[*]) && ended("other")'
    run("bsub", "-J", "finalise", "-w", condition, "humgen-storage", "report", "--finalise")
    [entry] = log_lines(env / "bsub.jsonl")
    assert entry["dependency"] == condition
    assert entry["dependencies"] == [
        {"condition": "done", "target": "stage-20261120[*]"},
        {"condition": "ended", "target": "other"},
    ]


def test_bsub_repeated_option_becomes_a_list(env: Path) -> None:
    run("bsub", "-R", "select[mem>1]", "-R", "span[hosts=1]", "true")
    [entry] = log_lines(env / "bsub.jsonl")
    assert entry["options"]["R"] == ["select[mem>1]", "span[hosts=1]"]


def test_bsub_reads_a_job_script_from_stdin(env: Path) -> None:
    result = run("bsub", "-q", "normal", stdin="#!/bin/sh\necho hi\n")
    assert result.stdout == "Job <1> is submitted to queue <normal>.\n"
    [entry] = log_lines(env / "bsub.jsonl")
    assert entry["command"] == []
    assert entry["stdin_script"] == "#!/bin/sh\necho hi\n"


def test_bsub_empty_job_is_refused(env: Path) -> None:
    result = run("bsub", "-q", "normal", stdin="")
    assert result.returncode == 255
    assert result.stderr == "Empty job. Job not submitted.\n"


@pytest.mark.parametrize(
    ("fail", "message"),
    [
        ("1", "User permission denied. Job not submitted."),
        ("permission", "User permission denied. Job not submitted."),
        ("queue", "nosuchq: No such queue. Job not submitted."),
        (
            "Request aborted by esub. Job not submitted.",
            "Request aborted by esub. Job not submitted.",
        ),
    ],
)
def test_bsub_fail(env: Path, monkeypatch: pytest.MonkeyPatch, fail: str, message: str) -> None:
    monkeypatch.setenv("FAKE_BSUB_FAIL", fail)
    result = run("bsub", "-q", "nosuchq", "-J", "x", "true")
    assert result.returncode == 255
    assert result.stdout == ""
    assert result.stderr == message + "\n"
    [entry] = log_lines(env / "bsub.jsonl")
    assert entry["job_id"] is None
    assert entry["refused"] == message
    assert not (env / "bsub.jsonl.jobid").exists()


def test_bsub_fail_zero_means_no_failure(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BSUB_FAIL", "0")
    assert run("bsub", "-q", "normal", "true").returncode == 0


def test_bsub_refuses_an_unknown_option(env: Path) -> None:
    result = run("bsub", "-Z", "true")
    assert result.returncode == 255
    assert result.stderr.startswith("bsub: illegal option -- Z")


def test_bsub_run_mode_runs_each_array_element(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BSUB_RUN", "1")
    script = 'echo "job $LSB_JOBID index $LSB_JOBINDEX"; echo oops >&2'
    result = run("bsub", "-J", "arr[1-2]", "-o", "out.%J.%I", "-e", "err.%J.%I", script)
    assert result.stdout == "Job <1> is submitted to default queue <normal>.\n"
    assert (env / "out.1.1").read_text() == "job 1 index 1\n"
    assert (env / "out.1.2").read_text() == "job 1 index 2\n"
    assert (env / "err.1.2").read_text() == "oops\n"
