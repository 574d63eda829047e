"""cron/*.sh with the fixtures/bin/bsub stand-in: what they submit, and what that does when run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from tests.helpers import REPO
from tests.sites import TODAY, Site, days_ago, make_site

FAKE_BIN = REPO / "fixtures" / "bin"
CRON = REPO / "cron"
BIN = REPO / "bin"
STAMP = TODAY.isoformat()  # the logs are named by the day the cron script runs


@pytest.fixture
def env(tmp_path: Path, lfs_quotas: None) -> dict[str, str]:
    """The environment of a cron script: the stand-ins first on PATH, this checkout's code,
    a quota for every group (``lfs_quotas``)."""
    quotas = os.environ["FAKE_LFS_QUOTAS"]
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LSB_", "LSF_", "FAKE_", "HUMGEN_"))
    }
    clean.update(
        PATH=f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        FAKE_BSUB_LOG=str(tmp_path / "bsub.jsonl"),
        FAKE_LFS_QUOTAS=quotas,
    )
    return clean


def run(
    argv: list[str | Path], env: dict[str, str], **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def submissions(env: dict[str, str]) -> list[dict[str, Any]]:
    log = Path(env["FAKE_BSUB_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def replay(entry: dict[str, Any], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Run one recorded submission as LSF would: once, or once per array element."""
    command = entry["command"]
    argv = ["/bin/sh", "-c", command[0]] if len(command) == 1 else command
    indices = entry["array"]["indices"] if entry["array"] else [None]
    results = []
    for index in indices:
        extra = {"LSB_JOBID": str(entry["job_id"])}
        if index is not None:
            extra["LSB_JOBINDEX"] = str(index)
        results.append(run(argv, env, **extra))
    return results


def check_resources(entry: dict[str, Any], group: str, queue: str, memory: int, cores: int) -> None:
    options = entry["options"]
    assert options["G"] == group
    assert options["q"] == queue
    assert options["M"] == str(memory)
    assert options["R"] == f"select[mem>{memory}] rusage[mem={memory}] span[hosts=1]"
    assert options["n"] == str(cores)


def test_lsf_helper_is_a_subcommand() -> None:
    # The cron scripts ask `humgen-storage lsf ...`; cli.py must list humgen_storage.submit.
    from humgen_storage.cli import COMMANDS

    assert COMMANDS["lsf"].load().__name__ == "humgen_storage.submit"


def test_report_cron_submits_the_manager(site: Site, env: dict[str, str]) -> None:
    done = run([CRON / "report_cron.sh", "--config", site.config], env)
    assert done.returncode == 0, done.stderr
    assert "Job <1> is submitted" in done.stdout

    [entry] = submissions(env)
    check_resources(entry, "hgi", "normal", 3000, 2)
    logs = site.report_dir / "report-logs"
    assert logs.is_dir()  # created before submitting: LSF does not create it
    assert entry["options"]["o"] == f"{logs}/{STAMP}.%J.out"
    assert entry["options"]["e"] == f"{logs}/{STAMP}.%J.err"
    assert entry["command"] == [str(BIN / "reportmanager.sh"), "--config", str(site.config)]
    assert entry["dependency"] is None and entry["array"] is None

    # The job, run as LSF would run it, is the manager.
    site.add_set(TODAY)
    [result] = replay(entry, env)
    assert result.returncode == 0, result.stderr
    assert site.tsv(TODAY).is_file()


def test_settings_from_the_environment(site: Site, env: dict[str, str], tmp_path: Path) -> None:
    overrides = {
        "HUMGEN_LSF_GROUP": "team113",
        "HUMGEN_LSF_QUEUE": "long",
        "HUMGEN_LSF_MEMORY_MB": "8000",
        "HUMGEN_LSF_CORES": "8",
        # The configuration from the environment, relative to the working directory.
        "HUMGEN_STORAGE_CONFIG": os.path.relpath(site.config, tmp_path),
    }
    done = subprocess.run(
        [str(CRON / "report_cron.sh")],
        env={**env, **overrides},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [entry] = submissions(env)
    check_resources(entry, "team113", "long", 8000, 8)
    # Made absolute: the job may start anywhere.
    assert entry["command"] == [str(BIN / "reportmanager.sh"), "--config", str(site.config)]

    bad = run([CRON / "report_cron.sh", "--config", site.config], env, HUMGEN_LSF_CORES="many")
    assert bad.returncode == 1
    assert "HUMGEN_LSF_CORES" in bad.stderr
    assert len(submissions(env)) == 1


@pytest.mark.parametrize(
    ("script", "wrapper", "logs"),
    [
        ("inspector_cron.sh", "inspector_manager.sh", "inspect-logs"),
        ("group_splitter_cron.sh", "group_splitter_manager.sh", "split-logs"),
    ],
)
def test_inspector_and_splitter_cron(
    site: Site, env: dict[str, str], script: str, wrapper: str, logs: str
) -> None:
    # Per-job requests: split_memory_mb applies to the splitter only.
    with site.config.open("a") as handle:
        handle.write("split_memory_mb = 6000\nsplit_cores = 3\n")  # appended to [lsf]
    done = run([CRON / script, "--config", site.config], env)
    assert done.returncode == 0, done.stderr
    [entry] = submissions(env)
    if script.startswith("group"):
        check_resources(entry, "hgi", "normal", 6000, 3)
    else:
        check_resources(entry, "hgi", "normal", 3000, 2)
    assert entry["options"]["o"] == f"{site.report_dir / logs}/{STAMP}.%J.out"
    assert entry["options"]["e"] == f"{site.report_dir / logs}/{STAMP}.%J.err"
    assert entry["command"] == [str(BIN / wrapper), "--config", str(site.config)]
    # --array is the report's.
    refused = run([CRON / script, "--config", site.config, "--array"], env)
    assert refused.returncode == 2
    assert len(submissions(env)) == 1


def table(site: Site) -> tuple[list[tuple[object, ...]], bytes]:
    day = days_ago(1)
    return site.usage_rows(), site.tsv(day).read_bytes()


def test_array_submission_and_replay_match_a_single_node_run(
    tmp_path: Path, site: Site, env: dict[str, str]
) -> None:
    day = days_ago(1)
    site.add_crawl(TODAY, "118")  # incomplete: the set of yesterday is the one
    site.add_set(day)

    done = run([CRON / "report_cron.sh", "--config", site.config, "--array"], env)
    assert done.returncode == 0, done.stderr
    stage, finalise = submissions(env)

    name = f"humgen-report-stage-{day.isoformat()}"
    logs = site.report_dir / "report-logs"
    assert stage["job_name"] == f"{name}[1-2]"
    assert stage["array"]["name"] == name
    assert stage["array"]["spec"] == "1-2"
    assert stage["array"]["indices"] == [1, 2]
    check_resources(stage, "hgi", "normal", 3000, 1)  # an element is one process
    assert stage["options"]["o"] == f"{logs}/{STAMP}.%J.%I.out"
    assert stage["options"]["e"] == f"{logs}/{STAMP}.%J.%I.err"
    assert stage["command"] == [
        str(BIN / "report_stage.sh"),
        "--config",
        str(site.config),
        "--date",
        day.isoformat(),
        "--volumes",
        "118,115",
    ]
    assert stage["dependency"] is None

    # ended(), not done(): a failed element must not leave the finaliser pending for ever.
    assert finalise["dependency"] == f"ended({name})"
    assert finalise["dependencies"] == [{"condition": "ended", "target": name}]
    assert finalise["array"] is None
    check_resources(finalise, "hgi", "normal", 3000, 2)
    assert finalise["options"]["o"] == f"{logs}/{STAMP}.%J.out"
    assert finalise["command"][-4:] == ["report", "--finalise", "--date", day.isoformat()]
    assert "--config" in finalise["command"]

    # A newer set arriving while the array waits changes nothing: the date was fixed
    # at submission.
    site.add_set(TODAY)

    # Run what was recorded, in order. First only element 1: the finaliser must refuse.
    argv = stage["command"]
    first = run(argv, env, LSB_JOBINDEX="1")
    assert first.returncode == 0, first.stderr
    early = replay(finalise, env)[0]
    assert early.returncode == 1
    assert "not staged" in early.stderr
    assert "1 of 2 volumes are not staged: 115;" in early.stderr  # its element did not run
    assert not site.tsv(day).exists()
    assert not site.database.exists() or site.usage_rows() == []
    # Then every element, then the finaliser.
    for result in replay(stage, env):
        assert result.returncode == 0, result.stderr
    [final] = replay(finalise, env)
    assert final.returncode == 0, final.stderr
    assert not (site.report_dir / ".staging" / day.strftime("%Y%m%d")).exists()

    # The same inputs, one node, another report_dir and database.
    single = make_site(tmp_path, "single")
    assert main(single.argv("report", "--date", day.isoformat())) == 0

    array_rows, array_tsv = table(site)
    single_rows, single_tsv = table(single)
    assert array_rows and {row[8] for row in array_rows} == {day.isoformat()}
    assert array_rows == single_rows
    assert array_tsv == single_tsv


def test_array_without_a_complete_set_submits_nothing(site: Site, env: dict[str, str]) -> None:
    site.add_crawl(TODAY, "118")
    done = run([CRON / "report_cron.sh", "--config", site.config, "--array"], env)
    assert done.returncode == 1
    assert "no complete set" in done.stderr
    assert "crawler has not delivered" in done.stderr
    assert submissions(env) == []


def test_array_when_already_done_submits_nothing(site: Site, env: dict[str, str]) -> None:
    site.add_set(TODAY)
    marker = site.tsv(TODAY)
    marker.parent.mkdir(parents=True)
    marker.touch()
    done = run([CRON / "report_cron.sh", "--config", site.config, "--array"], env)
    assert done.returncode == 0, done.stderr
    assert "already done" in done.stdout
    assert submissions(env) == []


def test_refused_submission_fails(site: Site, env: dict[str, str]) -> None:
    site.add_set(TODAY)
    plain = run([CRON / "report_cron.sh", "--config", site.config], env, FAKE_BSUB_FAIL="1")
    assert plain.returncode == 1
    assert "User permission denied" in plain.stderr
    array = run(
        [CRON / "report_cron.sh", "--config", site.config, "--array"], env, FAKE_BSUB_FAIL="1"
    )
    assert array.returncode == 1
    # The array was refused, so no finaliser was submitted after it.
    assert [bool(e.get("refused")) for e in submissions(env)] == [True, True]
    assert all(e["dependency"] is None for e in submissions(env))


def local_logs(site: Site) -> list[str]:
    return sorted(p.name for p in (site.report_dir / "report-logs").iterdir())


def test_local_runs_the_manager_here(site: Site, env: dict[str, str]) -> None:
    site.add_set(TODAY)
    done = run([CRON / "report_cron.sh", "--config", site.config, "--local"], env)
    assert done.returncode == 0, done.stderr
    assert submissions(env) == []
    assert site.tsv(TODAY).is_file()
    names = local_logs(site)
    assert len(names) == 2
    assert all(n.startswith(f"{STAMP}.local-") for n in names)
    err = site.report_dir / "report-logs" / [n for n in names if n.endswith(".err")][0]
    assert "loaded" in err.read_text()  # the manager's log lines went to the file


def without_bsub(env: dict[str, str]) -> dict[str, str]:
    """PATH without any directory that holds a bsub (the stand-in or a real one)."""
    dirs = [
        d
        for d in env["PATH"].split(os.pathsep)
        if d and not os.path.exists(os.path.join(d, "bsub"))
    ]
    return {**env, "PATH": os.pathsep.join(dirs)}


def test_no_bsub_on_path_runs_here(site: Site, env: dict[str, str]) -> None:
    site.add_set(TODAY)
    done = run([CRON / "report_cron.sh", "--config", site.config], without_bsub(env))
    assert done.returncode == 0, done.stderr
    assert "bsub is not on PATH" in done.stderr
    assert submissions(env) == []
    assert site.tsv(TODAY).is_file()
    assert len(local_logs(site)) == 2


def test_local_array_runs_stages_then_finaliser(site: Site, env: dict[str, str]) -> None:
    site.add_set(TODAY)
    done = run([CRON / "report_cron.sh", "--config", site.config, "--array", "--local"], env)
    assert done.returncode == 0, done.stderr
    assert submissions(env) == []
    assert site.tsv(TODAY).is_file()
    names = local_logs(site)
    assert len(names) == 6  # two elements and the finaliser, .out and .err each
    assert any(n.endswith(".1.err") for n in names) and any(n.endswith(".2.err") for n in names)


def test_local_manager_failure_is_the_exit_status(site: Site, env: dict[str, str]) -> None:
    done = run([CRON / "report_cron.sh", "--config", site.config, "--local"], env)  # no inputs
    assert done.returncode == 1
    assert "exit status 1" in done.stdout


def test_usage(env: dict[str, str], tmp_path: Path) -> None:
    assert run([CRON / "report_cron.sh", "--help"], env).returncode == 0
    assert run([CRON / "report_cron.sh", "--bogus"], env).returncode == 2
    missing = run([CRON / "report_cron.sh", "--config", tmp_path / "absent.ini"], env)
    assert missing.returncode == 1
    assert "not found" in missing.stderr
    assert submissions(env) == []


def test_stage_wrapper_needs_an_array_index(site: Site, env: dict[str, str]) -> None:
    done = run([BIN / "report_stage.sh", "--config", site.config, "--date", STAMP], env)
    assert done.returncode == 2
    assert "LSB_JOBINDEX" in done.stderr
    outside = run(
        [BIN / "report_stage.sh", "--config", site.config, "--date", STAMP], env, LSB_JOBINDEX="3"
    )
    assert outside.returncode == 1
    assert "outside 1-2" in outside.stderr  # counted in the configuration's volumes
    listed = run(
        [BIN / "report_stage.sh", "--config", site.config, "--date", STAMP, "--volumes", "118"],
        env,
        LSB_JOBINDEX="2",
    )
    assert listed.returncode == 1
    assert "outside 1-1" in listed.stderr


def test_wrapper_falls_back_to_python_m(env: dict[str, str], tmp_path: Path) -> None:
    """With no humgen-storage on PATH and no .venv, the wrapper runs python3 -m humgen_storage."""
    # A checkout without .venv, and a PATH holding only what the script needs, so
    # neither a system-wide install nor this checkout's .venv can answer instead.
    checkout = tmp_path / "checkout"
    (checkout / "bin").mkdir(parents=True)
    shutil.copy2(BIN / "humgen_storage.sh", checkout / "bin" / "humgen_storage.sh")
    (checkout / "humgen_storage").symlink_to(REPO / "humgen_storage")
    tools = tmp_path / "tools"
    tools.mkdir()
    # A script, not a symlink: a symlink to a venv's python starts the base interpreter,
    # which does not have this project's dependencies on a fresh machine.
    python3 = tools / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found is not None, f"{tool} is needed by the wrapper"
        (tools / tool).symlink_to(found)
    done = run(
        [checkout / "bin" / "humgen_storage.sh", "--version"],
        {**env, "PATH": str(tools), "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "humgen-storage" in done.stdout


def test_wrapper_prefers_humgen_storage_bin(env: dict[str, str], tmp_path: Path) -> None:
    fake = tmp_path / "my-humgen-storage"
    fake.write_text('#!/bin/sh\necho "called with: $*"\n')
    fake.chmod(0o755)
    done = run([BIN / "reportmanager.sh", "-v"], env, HUMGEN_STORAGE_BIN=str(fake))
    assert done.stdout.strip() == "called with: manage report -v"
