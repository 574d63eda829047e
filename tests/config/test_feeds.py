"""The [feeds] and [notify] sections: defaults, values, and refusals naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from humgen_storage.config import FeedsConfig, NotifyConfig
from humgen_storage.config.load import load_config
from humgen_storage.errors import ConfigError
from tests.helpers import base_sections, write_ini


def config_with(tmp_path: Path, **sections: dict[str, object]) -> Path:
    return write_ini(tmp_path / "c.ini", {**base_sections(tmp_path), **sections})


def test_absent_sections_take_the_defaults(tmp_path: Path) -> None:
    config = load_config(str(config_with(tmp_path)))
    assert config.feeds == FeedsConfig()
    assert config.notify == NotifyConfig()
    assert config.notify.statuses == ("full", "critical", "warning")


def test_values_are_read(tmp_path: Path) -> None:
    path = config_with(
        tmp_path,
        feeds={
            "xdmod_dir": "xdmod",
            "xdmod_resource": "lustre-{volume}",
            "ondemand_file": "/srv/ood/quota.json",
            "prometheus_usage": "usage.prom",
        },
        notify={
            "smtp_host": "mail.example.org",
            "smtp_port": 2525,
            "smtp_timeout": 5,
            "starttls": "yes",
            "sender": "storage@example.org",
            "recipient": "{pi}@example.org",
            "member_share": 0.25,
            "member_recipient": "{user}@example.org",
            "statuses": "full critical",
            "opt_out": "smith bob@example.org",
            "largest": 3,
        },
    )
    config = load_config(str(path))
    assert config.feeds.xdmod_dir == tmp_path / "xdmod"
    assert config.feeds.xdmod_resource == "lustre-{volume}"
    assert config.feeds.ondemand_file == Path("/srv/ood/quota.json")
    assert config.feeds.prometheus_usage == tmp_path / "usage.prom"
    n = config.notify
    assert (n.smtp_host, n.smtp_port, n.smtp_timeout, n.starttls) == (
        "mail.example.org",
        2525,
        5.0,
        True,
    )
    assert (n.member_share, n.statuses, n.largest) == (0.25, ("full", "critical"), 3)
    assert n.opt_out == frozenset({"smith", "bob@example.org"})


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("feeds", "ondemand_path", "/lustre/{vol}", "unknown field {vol}"),
        ("feeds", "xdmod_dir_", "x", "did you mean xdmod_dir?"),
        ("notify", "recipient", "{user}@example.org", "unknown field {user}"),
        ("notify", "recipient", "{pi@example.org", "not a template"),
        ("notify", "statuses", "full ok", "'ok' is not one of"),
        ("notify", "member_share", "1.5", "between 0 and 1"),
        ("notify", "smtp_timeout", "0", "at least 0.1"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(
    tmp_path: Path, section: str, key: str, value: str, message: str
) -> None:
    path = config_with(tmp_path, **{section: {key: value}})
    with pytest.raises(ConfigError, match=rf"\[{section}\] {key}: .*{message}".replace("{", r"\{")):
        load_config(str(path))
