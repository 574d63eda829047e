"""The run frame (run/driver.py) with a tiny fake job: the lock, the directory
loaded once before any stage, the not-staged check, stage-only then finalise."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from humgen_storage.config import Config
from humgen_storage.config.load import load_config
from humgen_storage.directory import Group, GroupDirectory
from humgen_storage.errors import DirectoryError, JobFailed
from humgen_storage.inspect.aggregate import InspectorRows, ProjectInspector
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.patterns import Format
from humgen_storage.report.aggregate import GroupTotals, UsageAggregate
from humgen_storage.run import driver, layout
from humgen_storage.run.inputs import InputSet
from humgen_storage.run.job import Job, PartialAggregate, VolumePlan
from humgen_storage.run.locking import job_lock
from humgen_storage.run.staging import StagingArea
from tests.helpers import base_sections, write_ini

DAY = dt.date(2026, 11, 20)
VOLUMES = ("118", "115")
DIRECTORY = GroupDirectory({7: Group(7, "hgi", True, "Smith")})


@dataclass(frozen=True)
class FakeTask:
    source: InputFile
    staging: Path


def fake_stage(task: FakeTask) -> str:
    """Stages the volume as one line: whether the directory was staged before it."""
    area = StagingArea(task.staging)
    seen = area.load_directory().name(7) if area.has_directory() else "no directory"
    area.new_volume_path(task.source.volume).write_text(f"{task.source.volume} {seen}")
    return task.source.volume


@dataclass
class FakeJob:
    """A job in the frame that stages one small file per volume."""

    published: list[list[str]] = field(default_factory=list)

    name = "inspect"
    volumes_key = "inspector"
    needs_directory = True
    stages_in_sqlite = True
    max_volumes_at_once = 8

    def done_marker(self, day: dt.date) -> Path:
        return Path("/nonexistent") / day.isoformat()

    def already_done(self, day: dt.date) -> bool:
        return False

    def volume_tasks(self, plan: VolumePlan) -> list[FakeTask]:
        return [FakeTask(source, plan.area.directory) for source in plan.files]

    @staticmethod
    def stage_volume(task: FakeTask) -> str:
        return fake_stage(task)

    def publish(
        self, area: StagingArea, day: dt.date, volumes: Sequence[str], staged: Sequence[str]
    ) -> int:
        self.published.append([area.volume_path(v).read_text() for v in volumes])
        return 0

    def abandon(self) -> None:
        pass


@pytest.fixture
def config(tmp_path: Path) -> Config:
    sections = base_sections(tmp_path)
    sections["volumes"]["inspector"] = " ".join(VOLUMES)
    return load_config(str(write_ini(tmp_path / "site.ini", sections)))


@pytest.fixture
def directory_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Counts the directory loads; each gives DIRECTORY."""
    calls: list[object] = []

    def load(cfg: object) -> GroupDirectory:
        calls.append(cfg)
        return DIRECTORY

    monkeypatch.setattr(driver, "load_directory", load)
    return calls


def the_set(config: Config) -> InputSet:
    return InputSet(
        DAY, tuple(InputFile.expected(config.paths.mpistat_dir, DAY, v) for v in VOLUMES)
    )


def area_of(config: Config) -> Path:
    return layout.staging_dir(config.paths.report_dir, "inspect", DAY)


def test_the_protocols_are_met() -> None:
    job: Job[FakeTask, str] = FakeJob()  # mypy checks the fake against the protocol
    usage: PartialAggregate[dict[int, GroupTotals]] = UsageAggregate(0)
    inspector: PartialAggregate[InspectorRows] = ProjectInspector(
        roots=("/lustre/scratch118/humgen/projects/*",),
        file_classes=(),
        reference=0,
        path_format=Format.BASE64,
    )
    assert job.name == "inspect" and usage.finish() == {} and len(inspector.finish()) == 0


def test_a_held_lock_is_nothing_to_do_for_a_manager_and_a_failure_by_hand(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[int] = []

    def work() -> int:
        ran.append(1)
        return 1

    caplog.set_level(logging.INFO)
    with job_lock(layout.lock_dir(config), "inspect") as held_by:
        assert held_by is None
        status = driver.run_locked(config, "inspect", work, managed=True)
        with pytest.raises(JobFailed, match=rf"another inspect is running .*process {os.getpid()}"):
            driver.run_locked(config, "inspect", work)
    assert (status, ran) == (0, [])
    assert "inspect: the lock is held" in caplog.text
    assert f"held by process {os.getpid()}, started " in caplog.text
    # Free again: the work runs, and its status is the run's.
    assert driver.run_locked(config, "inspect", lambda: 5) == 5


def test_the_directory_is_loaded_once_before_any_stage(
    config: Config, directory_loads: list[object]
) -> None:
    job = FakeJob()
    assert driver.run_job(config, job, the_set(config), workers=2) == 0
    assert len(directory_loads) == 1
    assert job.published == [["118 hgi", "115 hgi"]]  # every stage read the staged directory
    assert not area_of(config).exists()
    assert not area_of(config).parent.exists()  # nothing left under report_dir/.staging


def test_a_directory_outage_fails_the_job_writing_nothing(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def outage(cfg: object) -> GroupDirectory:
        raise DirectoryError("LDAP server ldap://x: cannot connect")

    monkeypatch.setattr(driver, "load_directory", outage)
    job = FakeJob()
    # Not wrapped: the CLI maps every outage alike ("<command>: <cause>; nothing was written").
    with pytest.raises(DirectoryError, match="^LDAP server ldap://x: cannot connect$"):
        driver.run_job(config, job, the_set(config), workers=1)
    assert job.published == [] and not area_of(config).exists()


def test_stage_only_then_finalise(config: Config, directory_loads: list[object]) -> None:
    job = FakeJob()
    assert driver.stage_only(config, job, "118", DAY, workers=1) == 0
    # One of two volumes staged: the finaliser refuses, publishes nothing, keeps the area.
    with pytest.raises(JobFailed, match="^1 of 2 volumes are not staged: 115$") as refused:
        driver.finalise(config, job, DAY)
    assert refused.value.reasons == [f"volume 115: not staged in {area_of(config)}"]
    assert job.published == [] and (area_of(config) / "volume-118.db").is_file()

    assert driver.stage_only(config, job, "115", DAY, workers=1) == 0
    assert len(directory_loads) == 1  # the second element found it staged
    assert driver.finalise(config, job, DAY) == 0
    assert job.published == [["118 hgi", "115 hgi"]]
    assert not area_of(config).exists()


def test_stage_only_refuses_a_volume_not_configured(config: Config) -> None:
    from humgen_storage.errors import UsageError

    with pytest.raises(UsageError, match=r"volume 999 is not in \[volumes\] inspector"):
        driver.stage_only(config, FakeJob(), "999", DAY, workers=1)
