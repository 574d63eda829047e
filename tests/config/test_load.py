"""Configuration and CLI conventions (spec sections 3 and 8)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.db import MysqlTarget, parse_url, redact
from humgen_storage.errors import ConfigError
from tests.helpers import REPO, base_sections, write_ini


def test_demo_and_production_configs_load() -> None:
    demo = load_config(str(REPO / "fixtures" / "demo.ini"))
    assert demo.volumes.report == ("118", "115")
    assert demo.ldap.ldif == REPO / "fixtures" / "ldap" / "directory.ldif"
    assert demo.quota.command == str(REPO / "fixtures" / "bin" / "lfs")
    production = load_config(str(REPO / "fixtures" / "production.ini"))
    # The legacy scripts' values (lurge at 1d24680), each cited in the file.
    assert production.volumes.report == ("114", "115", "118", "119", "123")
    assert production.volumes.splitter == ("114", "115", "116", "118", "119")
    assert production.paths.report_dir == Path("/lustre/scratch115/teams/hgi/lustre-usage")
    assert production.archive.dirs["119"] == (
        "/lustre/scratch119/humgen/teams",
        "/lustre/scratch119/humgen/projects",
    )
    assert production.inspector.roots["118"] == (
        "lustre/scratch118/humgen/hgi/projects",
        "lustre/scratch118/humgen/old-team-data",
    )
    assert production.ldap.group_base == "ou=group,dc=sanger,dc=ac,dc=uk"
    assert production.ldap.people_base == "ou=people,dc=sanger,dc=ac,dc=uk"
    assert production.inspector.roots["115"][0] == "lustre/scratch115/realdata/mdt[0-9]/projects"


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write_ini(tmp_path / "explicit.ini", base_sections(tmp_path))
    from_env = write_ini(tmp_path / "env.ini", base_sections(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="humgen_storage.ini: configuration file not found"):
        load_config(None)
    write_ini(tmp_path / "humgen_storage.ini", base_sections(tmp_path))
    assert load_config(None).source == tmp_path / "humgen_storage.ini"
    monkeypatch.setenv("HUMGEN_STORAGE_CONFIG", str(from_env))
    assert load_config(None).source == from_env
    assert load_config(str(explicit)).source == explicit


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("paths", "max_days_ago", "ten", r"\[paths\] max_days_ago: not an integer: 'ten'"),
        ("paths", "max_days_ago", "0", r"\[paths\] max_days_ago: must be at least 1"),
        ("input", "max_bad_fraction", "2", r"\[input\] max_bad_fraction: must be a fraction"),
        (
            "database",
            "url",
            "postgres://x/y",
            r"\[database\] url: must start with mysql:// or sqlite:///",
        ),
        ("volumes", "report", "118 ../x", r"\[volumes\] report: not a volume number: '../x'"),
        ("inspector", "118", "lustre/(unclosed", r"\[inspector\] 118: bad root pattern"),
        ("ldap", "url", "ldap://127.0.0.1:1", r"\[ldap\] url: set exactly one of 'url' and 'ldif'"),
        ("lsf", "split_cores", "0", r"\[lsf\] split_cores: must be at least 1"),
        ("lsf", "stage_memory_mb", "lots", r"\[lsf\] stage_memory_mb: not an integer: 'lots'"),
    ],
)
def test_errors_name_file_section_and_key(
    tmp_path: Path, section: str, key: str, value: str, message: str
) -> None:
    sections = base_sections(tmp_path)
    sections.setdefault(section, {})[key] = value
    path = write_ini(tmp_path / "bad.ini", sections)
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        load_config(str(path))


def test_missing_required_key(tmp_path: Path) -> None:
    sections = base_sections(tmp_path)
    del sections["paths"]["mpistat_dir"]
    path = write_ini(tmp_path / "bad.ini", sections)
    with pytest.raises(ConfigError, match=r"\[paths\] mpistat_dir: missing"):
        load_config(str(path))


def test_secrets_from_environment_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sections = base_sections(tmp_path, "mysql://user:inurl@127.0.0.1:3306/db")
    sections["database"]["password"] = "infile"
    path = write_ini(tmp_path / "site.ini", sections)
    config = load_config(str(path))
    assert config.database.password == "infile"
    assert "infile" not in repr(config)
    monkeypatch.setenv("HUMGEN_MYSQL_PASSWORD", "fromenv")
    monkeypatch.setenv("HUMGEN_LDAP_PASSWORD", "ldapsecret")
    config = load_config(str(path))
    assert config.database.password == "fromenv"
    assert config.ldap.bind_password == "ldapsecret"
    target = parse_url(config.database)
    assert isinstance(target, MysqlTarget) and target.password == "fromenv"
    assert "fromenv" not in repr(target) and "ldapsecret" not in repr(config)
    assert redact("mysql://user:inurl@host/db") == "mysql://user:***@host/db"


def test_readable_file_with_a_secret_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sections = base_sections(tmp_path)
    sections["database"]["password"] = "s3cret"
    path = write_ini(tmp_path / "site.ini", sections)
    with caplog.at_level(logging.WARNING):
        load_config(str(path))
    assert "readable by group or others" not in caplog.text
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_config(str(path))
    assert "holds a password and is readable by group or others" in caplog.text
    assert "s3cret" not in caplog.text


def test_config_option_before_or_after_the_subcommand(tmp_path: Path) -> None:
    path = str(write_ini(tmp_path / "site.ini", base_sections(tmp_path)))
    assert main(["--config", path, "schema"]) == 0
    assert main(["schema", "--config", path]) == 0
    assert (tmp_path / "usage.db").exists()


def test_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "report" in capsys.readouterr().out
    for command in ("report", "inspect", "split", "manage", "schema", "crawl"):
        assert main([command, "--help"]) == 0
    assert main(["no-such-command"]) == 2
    assert main(["report", "--date", "yesterday"]) == 2
    assert main(["--config", str(tmp_path / "missing.ini"), "schema"]) == 1


def test_log_lines_carry_time_level_and_volume(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = str(write_ini(tmp_path / "site.ini", base_sections(tmp_path)))
    assert main(["--config", path, "report", str(tmp_path / "20261120_118.dat.gz")]) == 1
    err = capfd.readouterr().err
    line = next(x for x in err.splitlines() if "file not found" in x)
    assert line.split(" ")[2] == "ERROR"  # date, time, level
    assert "Traceback" not in err


def test_absent_keys_take_the_dataclass_defaults(tmp_path: Path) -> None:
    # Each default is written once, on its dataclass: an absent key gives exactly it.
    from humgen_storage.config import InputConfig, LsfConfig, QuotaConfig, S3Config

    config = load_config(str(write_ini(tmp_path / "site.ini", base_sections(tmp_path))))
    assert config.paths.max_days_ago == 10
    assert config.input == InputConfig()
    assert config.s3 == S3Config()
    assert (config.s3.bucket, config.s3.prefix) == ("branchserve", "")
    assert config.lsf == LsfConfig(
        per_job=dict.fromkeys(("inspect", "split", "stage"), (None, None))
    )
    assert config.quota.workers == QuotaConfig().workers == 8
    assert config.workers is None


def test_max_delete_fraction_is_a_fraction(tmp_path: Path) -> None:
    sections = base_sections(tmp_path)
    sections["inspector"] = {"118": "lustre/scratch118/projects"}
    assert (
        load_config(str(write_ini(tmp_path / "a.ini", sections))).inspector.max_delete_fraction
        == 0.5
    )
    sections["inspector"]["max_delete_fraction"] = "0.25"
    config = load_config(str(write_ini(tmp_path / "b.ini", sections)))
    assert config.inspector.max_delete_fraction == 0.25
    assert config.inspector.roots == {"118": ("lustre/scratch118/projects",)}
    sections["inspector"]["max_delete_fraction"] = "1.5"
    with pytest.raises(ConfigError, match=r"\[inspector\] max_delete_fraction: must be a fraction"):
        load_config(str(write_ini(tmp_path / "c.ini", sections)))


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        # The findings of issue 15: a misspelt section or key was ignored silently.
        ("quotas", "timeout", r"\[quotas\] is not a section; did you mean \[quota\]\?$"),
        (
            "quota",
            "timout",
            r"\[quota\] timout: not a key of this section; did you mean timeout\?$",
        ),
        ("metric", "textfile", r"\[metric\] is not a section; did you mean \[metrics\]\?$"),
        ("s3", "read_timeuot", r"\[s3\] read_timeuot: not a key .*; did you mean read_timeout\?$"),
        ("nonsense", "x", r"\[nonsense\] is not a section$"),
        ("paths", "zzz", r"\[paths\] zzz: not a key of this section$"),
        (
            "archive",
            "threshold_byte",
            r"\[archive\] threshold_byte: not a volume number nor a key of this section;"
            r" did you mean threshold_bytes\?$",
        ),
        ("inspector", "/118", r"\[inspector\] /118: not a volume number$"),
        ("DEFAULT", "timout", r"\[DEFAULT\] timout: not a key of any section; did you mean"),
    ],
)
def test_unknown_sections_and_keys_are_errors(
    tmp_path: Path, section: str, key: str, message: str
) -> None:
    sections = base_sections(tmp_path)
    sections.setdefault(section, {})[key] = "5"
    path = write_ini(tmp_path / "bad.ini", sections)
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        load_config(str(path))


def test_free_sections_take_their_own_keys(tmp_path: Path) -> None:
    """Per-volume sections take volume numbers; [file_classes] takes column names;
    a password given in the environment still leaves the file's key known."""
    sections = base_sections(tmp_path)
    sections["volumes"]["inspector"] = "118 115"
    sections["archive"] = {"threshold_bytes": 1, "118": tmp_path / "archive"}
    sections["inspector"] = {"118": "lustre/scratch118/x", "115": "lustre/scratch115/y"}
    sections["file_classes"] = {"bam": r"\.bam$", "cram": r"\.cram$"}
    sections["ldap"]["bind_password"] = "secret"
    sections["metrics"] = {"textfile": "metrics/humgen.prom"}
    path = write_ini(tmp_path / "ok.ini", sections)
    config = load_config(str(path))
    assert config.inspector.roots == {
        "118": ("lustre/scratch118/x",),
        "115": ("lustre/scratch115/y",),
    }
    assert config.metrics.textfile == tmp_path / "metrics" / "humgen.prom"


def test_every_config_of_the_repository_loads() -> None:
    for path in sorted((REPO / "fixtures").glob("*.ini")):
        load_config(str(path))


def test_a_misspelt_section_exits_1_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sections = base_sections(tmp_path)
    sections["quotas"] = {"command": "lfs"}
    path = write_ini(tmp_path / "bad.ini", sections)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(path), "report"]) == 1
    assert "[quotas] is not a section; did you mean [quota]?" in caplog.text
