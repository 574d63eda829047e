"""Quota look-ups against the fixtures/bin/lfs stand-in."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.config import QuotaConfig
from humgen_storage.quota import (
    QuotaFigures,
    QuotaLookups,
    QuotaParseError,
    fetch_quota,
    fetch_quota_figures,
    parse_quota_figures,
    parse_quota_output,
)

REPO = Path(__file__).resolve().parents[1]
FAKE_BIN = REPO / "fixtures" / "bin"
MOUNT = "/lustre/scratch118"  # 18 characters: the real tool wraps it
SHORT_MOUNT = "/lustre/s118"
KIB = 1024


def process_is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def wait_until_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_is_running(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fake_lfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Put the stand-in first on PATH; returns a function that sets its quotas."""
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    log_path = tmp_path / "lfs-calls.jsonl"
    monkeypatch.setenv("FAKE_LFS_LOG", str(log_path))

    class FakeLfs:
        log = log_path

        def set(self, quotas: dict[str, Any]) -> None:
            path = tmp_path / "quotas.json"
            path.write_text(json.dumps(quotas))
            monkeypatch.setenv("FAKE_LFS_QUOTAS", str(path))

        def calls(self) -> list[dict[str, Any]]:
            if not self.log.exists():
                return []
            return [json.loads(line) for line in self.log.read_text().splitlines()]

    return FakeLfs()


CFG = QuotaConfig(command="lfs", timeout=10.0, workers=4)


# --- parse_quota_output ---------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("   /lustre/s118    1234    5000    6000       -       0       0       0       -\n", 6000),
        (
            "/lustre/scratch118\n                   1234    5000    5000       -       0       0       0       -\n",
            5000,
        ),
        ("/lustre/s118  6000*  5000  5000  -  0  0  0  -\n", 5000),
        ("/lustre/s118  4500*  4000  5000  6d23h59m  12  0  0  -\n", 5000),
        ("/lustre/s118  5  [10]  [10]  -  0  [0]  [0]  -\nSome errors happened.\n", 10),
        ("/lustre/s118  [5]  [10]  [10]  -  0  [0]  [0]  -\n", 10),
        ("/lustre/s118       0       0       0       -       0       0       0       -\n", 0),
        ("/lustre/s118  1  2  8796093022208  -  0  0  0  -", 8796093022208),
    ],
    ids=[
        "one-line",
        "wrapped",
        "over-hard",
        "over-soft",
        "brackets",
        "used-bracket",
        "zero",
        "huge",
    ],
)
def test_parse_quota_output_reads_the_fourth_token_as_kib(output: str, expected: int) -> None:
    assert parse_quota_output(output) == expected * KIB


@pytest.mark.parametrize(
    "output",
    [
        "",
        "/lustre/s118 1 2",
        "Disk quotas for grp hgi (gid 1000):\n     Filesystem  kbytes   quota   limit   grace\n",
        "/lustre/s118  1.205M  4.883M  4.883M  -  0  0  0  -",
        "/lustre/s118  1  2  lots  -",
        "/lustre/s118  1  2  -5  -",
    ],
    ids=["empty", "short", "header", "human-units", "word", "negative"],
)
def test_parse_quota_output_rejects_other_output(output: str) -> None:
    with pytest.raises(QuotaParseError):
        parse_quota_output(output)


def test_quota_parse_error_is_a_value_error() -> None:
    assert issubclass(QuotaParseError, ValueError)


# --- fetch_quota ------------------------------------------------------------------


def test_fetch_quota_returns_the_hard_limit_in_bytes(fake_lfs: Any) -> None:
    fake_lfs.set({"hgi": {"used_kb": 1234, "soft_kb": 4000, "limit_kb": 5000}})
    assert fetch_quota("hgi", SHORT_MOUNT, CFG) == 5000 * KIB


def test_fetch_quota_runs_the_exact_command_line(fake_lfs: Any) -> None:
    fake_lfs.set({"hgi": {"used_kb": 1, "limit_kb": 2}})
    fetch_quota("hgi", MOUNT, CFG)
    assert [call["argv"] for call in fake_lfs.calls()] == [["quota", "-q", "-g", "hgi", MOUNT]]


def test_fetch_quota_over_quota_star_does_not_break_parsing(fake_lfs: Any) -> None:
    fake_lfs.set({"big": {"used_kb": 6000, "limit_kb": 5000}})
    assert fetch_quota("big", SHORT_MOUNT, CFG) == 5000 * KIB


def test_fetch_quota_long_filesystem_name_wraps(fake_lfs: Any) -> None:
    long_mount = "/lustre/scratch118/with/a/long/name"
    fake_lfs.set({"hgi": {"used_kb": 7, "limit_kb": 9000}, "forced": {"limit_kb": 3, "wrap": True}})
    assert fetch_quota("hgi", MOUNT, CFG) == 9000 * KIB
    assert fetch_quota("hgi", long_mount, CFG) == 9000 * KIB
    assert fetch_quota("forced", SHORT_MOUNT, CFG) == 3 * KIB


def test_fetch_quota_strips_brackets_and_warns(
    fake_lfs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_lfs.set({"hgi": {"used_kb": 7, "limit_kb": 9000, "brackets": True}})
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("hgi", MOUNT, CFG) == 9000 * KIB
    assert "inaccurate" in caplog.text
    assert "'hgi'" in caplog.text


def test_fetch_quota_zero_limit_means_unlimited(fake_lfs: Any) -> None:
    fake_lfs.set({"free": {"used_kb": 123, "limit_kb": 0}})
    assert fetch_quota("free", MOUNT, CFG) == 0


def test_fetch_quota_failing_command_gives_none_and_names_the_group(
    fake_lfs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_lfs.set({"broken": {"fail": "lfs quota: cannot resolve group\nsecond line"}})
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("broken", MOUNT, CFG) is None
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = record.getMessage()
    assert "'broken'" in message
    assert MOUNT in message
    assert "lfs quota: cannot resolve group" in message
    assert "second line" not in message
    assert "status 1" in message
    assert getattr(record, "volume", None) == "scratch118"


def test_fetch_quota_unknown_group_gives_none(
    fake_lfs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_lfs.set({"hgi": {"limit_kb": 1}})
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("nosuchgroup", MOUNT, CFG) is None
    assert "invalid id 'nosuchgroup'" in caplog.text


def test_fetch_quota_unparsable_output_gives_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "chatty-lfs"
    script.write_text("#!/bin/sh\necho 'quotas are switched off today'\n")
    script.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("hgi", MOUNT, QuotaConfig(command=str(script), timeout=5)) is None
    assert "unexpected output" in caplog.text
    assert "'hgi'" in caplog.text


def test_fetch_quota_hanging_command_is_killed(
    fake_lfs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_lfs.set({"slow": {"hang": True, "used_kb": 1, "limit_kb": 2}})
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("slow", MOUNT, QuotaConfig(command="lfs", timeout=0.5)) is None
    assert time.monotonic() - started < 5
    assert "timed out" in caplog.text
    assert "'slow'" in caplog.text
    [call] = fake_lfs.calls()
    assert wait_until_gone(call["pid"])


def test_fetch_quota_timeout_kills_the_commands_children(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    child_pid_file = tmp_path / "child.pid"
    script = tmp_path / "forking-lfs"
    script.write_text(f"#!/bin/sh\nsleep 3600 &\necho $! > {child_pid_file}\nwait\n")
    script.chmod(0o755)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("hgi", MOUNT, QuotaConfig(command=str(script), timeout=0.5)) is None
    assert time.monotonic() - started < 5
    assert wait_until_gone(int(child_pid_file.read_text()))


def test_fetch_quota_missing_command_gives_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-lfs"
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota("hgi", MOUNT, QuotaConfig(command=str(missing))) is None
    assert "'hgi'" in caplog.text
    assert "cannot run" in caplog.text


def test_fetch_quota_command_may_hold_extra_words(fake_lfs: Any) -> None:
    fake_lfs.set({"hgi": {"limit_kb": 77}})
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_BIN / 'lfs'))}"
    assert fetch_quota("hgi", MOUNT, QuotaConfig(command=command)) == 77 * KIB
    [call] = fake_lfs.calls()
    assert call["argv"] == ["quota", "-q", "-g", "hgi", MOUNT]


def test_fetch_quota_command_by_absolute_path(fake_lfs: Any) -> None:
    fake_lfs.set({"hgi": {"limit_kb": 5}})
    assert fetch_quota("hgi", MOUNT, QuotaConfig(command=str(FAKE_BIN / "lfs"))) == 5 * KIB


def test_fetch_quota_never_uses_a_shell(fake_lfs: Any) -> None:
    group = "hgi; touch pwned"
    fake_lfs.set({group: {"limit_kb": 5}})
    assert fetch_quota(group, MOUNT, CFG) == 5 * KIB
    assert fake_lfs.calls()[0]["argv"][3] == group


@pytest.mark.parametrize("group", ["", "-u", "--help"])
def test_fetch_quota_refuses_option_like_group(
    fake_lfs: Any, caplog: pytest.LogCaptureFixture, group: str
) -> None:
    fake_lfs.set({})
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        assert fetch_quota(group, MOUNT, CFG) is None
    assert fake_lfs.calls() == []
    assert "not a usable group name" in caplog.text


# --- every group at once, as the report asks at the end ----------------------------


def fetch_quotas(groups: list[str], mount: str, cfg: QuotaConfig) -> dict[str, int | None]:
    """What the report does with the groups of a volume: one QuotaLookups, results."""
    with QuotaLookups(mount, cfg) as lookups:
        return lookups.results(groups)


def test_fetch_quotas_maps_every_group(fake_lfs: Any, caplog: pytest.LogCaptureFixture) -> None:
    fake_lfs.set(
        {
            "hgi": {"used_kb": 1234, "limit_kb": 5000},
            "big": {"used_kb": 6000, "limit_kb": 5000},
            "free": {"limit_kb": 0},
            "broken": {"fail": "lfs quota: cannot resolve group"},
        }
    )
    groups = ["hgi", "big", "", "-x", "free", "broken", "unknown", "hgi"]
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        result = fetch_quotas(groups, MOUNT, CFG)
    assert result == {
        "hgi": 5000 * KIB,
        "big": 5000 * KIB,
        "": None,
        "-x": None,
        "free": 0,
        "broken": None,
        "unknown": None,
    }
    assert list(result) == ["hgi", "big", "", "-x", "free", "broken", "unknown"]
    called = sorted(call["argv"][3] for call in fake_lfs.calls())
    assert called == ["big", "broken", "free", "hgi", "unknown"]


def test_fetch_quotas_runs_concurrently(fake_lfs: Any) -> None:
    delay = 0.3
    groups = [f"group{n:02d}" for n in range(20)]
    fake_lfs.set({group: {"limit_kb": n + 1, "delay": delay} for n, group in enumerate(groups)})
    started = time.monotonic()
    result = fetch_quotas(groups, MOUNT, QuotaConfig(command="lfs", timeout=30, workers=8))
    elapsed = time.monotonic() - started
    assert result == {group: (n + 1) * KIB for n, group in enumerate(groups)}
    assert elapsed < len(groups) * delay / 2


def test_fetch_quotas_missing_command_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = QuotaConfig(command=str(tmp_path / "no-such-lfs"))
    with caplog.at_level(logging.WARNING, logger="humgen_storage.quota"):
        result = fetch_quotas(["a", "b", "c"], MOUNT, cfg)
    assert result == {"a": None, "b": None, "c": None}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "command not found" in warnings[0].getMessage()


def test_fetch_quotas_with_no_groups_runs_nothing(fake_lfs: Any) -> None:
    fake_lfs.set({})
    assert fetch_quotas([], MOUNT, CFG) == {}
    assert fake_lfs.calls() == []


def test_quota_lookups_start_early_and_run_each_group_once(fake_lfs: Any) -> None:
    fake_lfs.set({"a": {"limit_kb": 1}, "b": {"limit_kb": 2}, "c": {"limit_kb": 3}})
    with QuotaLookups(MOUNT, CFG) as lookups:
        lookups.want(["a", "b"])  # as the report meets the groups
        lookups.want(["b", "c", "-x"])
        assert lookups.results(["c", "a", "-x"]) == {"c": 3 * KIB, "a": 1 * KIB, "-x": None}
    called = sorted(call["argv"][3] for call in fake_lfs.calls())
    assert called == ["a", "b", "c"]


# --- the quota system's own figures (issue 18): tokens 2, 6 and 8 ---------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "   /lustre/s118    1234    5000    6000       -      17       0      40       -\n",
            QuotaFigures(6000 * KIB, 1234 * KIB, 17, 40),
        ),
        (
            "/lustre/scratch118\n                   1234    5000    5000       -       9"
            "      20      30       -\n",
            QuotaFigures(5000 * KIB, 1234 * KIB, 9, 30),
        ),
        (
            "/lustre/s118  6000*  5000  5000  -  41*  0  40  -\n",
            QuotaFigures(5000 * KIB, 6000 * KIB, 41, 40),
        ),
        (
            "/lustre/s118  [5]  [10]  [10]  -  [3]*  [0]  [7]  -\nSome errors happened.\n",
            QuotaFigures(10 * KIB, 5 * KIB, 3, 7),
        ),
        # Only the block columns: the limit as before, the other figures unknown.
        ("/lustre/s118  5  10  10  -\n", QuotaFigures(10 * KIB, 5 * KIB, None, None)),
        (
            "/lustre/s118  5  10  10  -  many  0  1.5k  -\n",
            QuotaFigures(10 * KIB, 5 * KIB, None, None),
        ),
    ],
    ids=["one-line", "wrapped", "stars", "brackets", "block-only", "not-numbers"],
)
def test_parse_quota_figures(output: str, expected: QuotaFigures) -> None:
    assert parse_quota_figures(output) == expected
    assert parse_quota_output(output) == expected.block_limit


def test_the_stand_in_prints_what_the_figures_are_read_from(fake_lfs: Any) -> None:
    """Each of the real tool's layouts, printed by the stand-in, read back exactly."""
    fake_lfs.set(
        {
            # over both hard limits: '*' on kbytes and files; the mount wraps (18 chars)
            "over": {"used_kb": 6, "limit_kb": 5, "files": 4, "file_limit": 3},
            # over the soft file quota only: '*' and a grace time
            "soft": {"used_kb": 2, "limit_kb": 9, "files": 8, "file_soft": 5, "file_limit": 10},
            "brackets": {
                "used_kb": 4,
                "limit_kb": 100,
                "files": 2,
                "file_limit": 10,
                "brackets": True,
            },
            "wrapped": {"used_kb": 1, "limit_kb": 0, "files": 1, "file_limit": 0, "wrap": True},
            "broken": {"fail": "lfs quota: quotactl failed: Operation not permitted"},
        }
    )
    assert fetch_quota_figures("over", MOUNT, CFG) == QuotaFigures(5 * KIB, 6 * KIB, 4, 3)
    assert fetch_quota_figures("soft", SHORT_MOUNT, CFG) == QuotaFigures(9 * KIB, 2 * KIB, 8, 10)
    assert fetch_quota_figures("brackets", MOUNT, CFG) == QuotaFigures(100 * KIB, 4 * KIB, 2, 10)
    assert fetch_quota_figures("wrapped", SHORT_MOUNT, CFG) == QuotaFigures(0, 1 * KIB, 1, 0)
    assert fetch_quota_figures("broken", MOUNT, CFG) is None
    with QuotaLookups(MOUNT, CFG) as lookups:
        figures = lookups.figures(["over", "broken", "-x"])
        assert figures == {"over": QuotaFigures(5 * KIB, 6 * KIB, 4, 3), "broken": None, "-x": None}
        # The limits are the same calls' (each group is asked once).
        assert lookups.results(["over", "broken"]) == {"over": 5 * KIB, "broken": None}
    # One call by fetch_quota_figures, one by the look-ups: results() ran no other.
    assert len([c for c in fake_lfs.calls() if "over" in c["argv"]]) == 2
