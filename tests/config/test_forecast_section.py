"""The [forecast] section: its keys, their defaults, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from humgen_storage.config import ForecastConfig
from humgen_storage.config.load import load_config
from humgen_storage.errors import ConfigError
from tests.helpers import base_sections, write_ini


def config_with(tmp_path: Path, forecast: dict[str, object] | None) -> Path:
    sections = base_sections(tmp_path)
    if forecast is not None:
        sections["forecast"] = forecast
    return write_ini(tmp_path / "humgen_storage.ini", sections)


def test_absent_section_takes_the_defaults(tmp_path: Path) -> None:
    assert load_config(str(config_with(tmp_path, None))).forecast == ForecastConfig()
    assert ForecastConfig() == ForecastConfig(28, 5, 7, 7.0, 28.0, 0.02, 7)


def test_every_key_is_read(tmp_path: Path) -> None:
    keys = {
        "window_days": 42,
        "min_points": 8,
        "min_span_days": 10,
        "critical_days": 3,
        "warning_days": 14.5,
        "deletion_fraction": 0.05,
        "keep_warning_days": 0,
    }
    loaded = load_config(str(config_with(tmp_path, keys))).forecast
    assert loaded == ForecastConfig(42, 8, 10, 3.0, 14.5, 0.05, 0)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"warning_days": 5, "critical_days": 7}, "warning_days: must be at least critical_days"),
        ({"deletion_fraction": 1.5}, "deletion_fraction: must be a fraction between 0 and 1"),
        ({"window_days": 1}, "window_days: must be at least 2"),
        ({"keep_warning_days": -1}, "keep_warning_days: must be at least 0"),
        ({"warn_days": 5}, "[forecast] warn_days"),
    ],
)
def test_what_is_refused(tmp_path: Path, keys: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(config_with(tmp_path, keys)))
    assert message in str(caught.value)
