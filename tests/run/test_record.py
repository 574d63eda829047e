"""The run record: exit status 3 when a run published and something needs a person."""

from __future__ import annotations

import argparse
import logging
from types import SimpleNamespace

import pytest

from humgen_storage.cli import StandaloneEntry, run_command
from humgen_storage.run import record


def _entry(result: int, notes: list[str]) -> StandaloneEntry:
    def run(args: argparse.Namespace, config: None) -> int:
        for note in notes:
            record.current().degrade(note)
        return result

    command = SimpleNamespace(__doc__="fake", add_arguments=lambda parser: None, run=run)
    return StandaloneEntry("fake", "a fake command", lambda: command)  # type: ignore[arg-type,return-value]


def _run(entry: StandaloneEntry) -> int:
    return run_command(entry, argparse.Namespace(verbose=False), argparse.ArgumentParser())


def test_a_clean_run_exits_0() -> None:
    assert _run(_entry(0, [])) == 0
    assert record.current().outcome == "success"


def test_notes_make_exit_3_and_are_logged_last(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert _run(_entry(0, ["quotas missing for 2 groups: a, b"])) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-2:] == [
        "needs a person: quotas missing for 2 groups: a, b",
        "fake: written but degraded (exit status 3)",
    ]
    assert record.current().outcome == "degraded"
    assert record.current().exit_status == 3


def test_a_failure_stays_a_failure_whatever_the_notes() -> None:
    assert _run(_entry(1, ["something"])) == 1
    assert record.current().outcome == "failed"


def test_each_command_begins_a_new_record() -> None:
    _run(_entry(0, ["one"]))
    assert _run(_entry(0, [])) == 0
    assert record.current().needs_a_person == []


def test_stage_times_add_up() -> None:
    run = record.RunRecord(command="x")
    with run.stage("read"):
        pass
    with run.stage("read"):
        pass
    assert set(run.durations) == {"read"} and run.durations["read"] >= 0
