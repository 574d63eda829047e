"""Progress: a tqdm bar on a terminal, periodic log lines elsewhere (spec section 8)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from humgen_storage.logs import Progress, volume_logger


def test_periodic_log_lines_when_not_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    log = volume_logger("humgen_storage.test", "scratch118")
    progress = Progress(1000, "report 2026-11-20", log, interval=0.0, enabled=False)
    with caplog.at_level(logging.INFO):
        progress.update(250)
        progress.update(250)
    progress.close()
    assert progress.bar is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-1].startswith("report 2026-11-20: 50.0% of 1000 compressed bytes")
    assert all(getattr(r, "volume", None) == "scratch118" for r in caplog.records)


def test_a_bar_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(2048, "inspect", logging.getLogger("t"), enabled=True)
    progress.update(1024)
    assert progress.bar is not None and progress.bar.n == 1024
    progress.close()
    assert "inspect" in capsys.readouterr().err


def _read_some(size: int) -> int:
    from humgen_storage.run.volumes import report_progress

    report_progress(size)
    return size


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_reaches_the_display_while_volumes_run(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from humgen_storage.run import volumes as pool

    updates: list[int] = []

    class Recording(Progress):
        def update(self, compressed_bytes: int) -> None:
            updates.append(compressed_bytes)
            super().update(compressed_bytes)

    monkeypatch.setattr(pool, "Progress", Recording)
    results = pool.run_per_volume(_read_some, [300, 700], ["118", "115"], workers, 1000, "report")
    assert results == [300, 700]
    assert sum(updates) == 1000
    if workers == 1:  # in this process, each read is shown as it happens
        assert updates == [300, 700]


def test_atomic_file_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    from humgen_storage.run.atomic import atomic_file

    target = tmp_path / "out" / "report.tsv"
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("half")
        raise RuntimeError("crash while writing")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_file(target) as handle:
        handle.write("whole\n")
        assert not target.exists()
    assert target.read_text() == "whole\n" and target.stat().st_mode & 0o777 == 0o644
