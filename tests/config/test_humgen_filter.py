"""[ldap] humgen_filter values that would make every group humgen, or do not parse,
are configuration errors naming the key (issue 16, deliverable 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.directory.filters import matches_every_group, parse_filter
from humgen_storage.errors import ConfigError
from tests.helpers import base_sections, write_ini


def config_with_filter(tmp_path: Path, value: str) -> Path:
    sections = base_sections(tmp_path)
    sections["ldap"]["humgen_filter"] = value
    return write_ini(tmp_path / "site.ini", sections)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"empty; remove the key for the default \(objectClass=sangerHumgenProjectGroup\)"),
        ("(objectClass=*)", r"\(objectClass=\*\) matches every group"),
        ("objectclass=*", ".* matches every group"),
        ("(cn=*)", ".* matches every group"),
        ("(gidNumber=*)", ".* matches every group"),
        ("(objectClass=posixGroup)", ".* matches every group"),
        ("(objectClass= PosixGroup )", ".* matches every group"),
        ("(objectClass=top)", ".* matches every group"),
        ("(&)", ".* matches every group"),
        ("(&(objectClass=*)(cn=*))", ".* matches every group"),
        ("(|(objectClass=sangerHumgenProjectGroup)(objectClass=*))", ".* matches every group"),
        ("(objectClass=sangerHumgenProjectGroup", r"bad filter .* expected '\)'"),
        ('""', "bad filter"),
        ("(cn~=hgi)", "bad filter"),
    ],
)
def test_filters_that_would_make_every_group_humgen_are_refused(
    tmp_path: Path, value: str, message: str
) -> None:
    path = config_with_filter(tmp_path, value)
    with pytest.raises(ConfigError, match=rf"^{path}: \[ldap\] humgen_filter: {message}"):
        load_config(str(path))


@pytest.mark.parametrize(
    "value",
    [
        "(objectClass=sangerHumgenProjectGroup)",
        "objectClass=sangerHumgenProjectGroup",
        "(|(cn=hgi)(cn=team113))",
        "(&(objectClass=posixGroup)(cn=hg*))",  # an AND narrowed by a real condition
        "(|(description=*)(cn=x))",
        "(!(cn=zzz))",  # a NOT is never judged: it could match nothing
    ],
)
def test_narrower_filters_load(tmp_path: Path, value: str) -> None:
    assert load_config(str(config_with_filter(tmp_path, value))).ldap.humgen_filter == value


def test_the_absent_key_takes_the_default(tmp_path: Path) -> None:
    path = write_ini(tmp_path / "site.ini", base_sections(tmp_path))
    assert load_config(str(path)).ldap.humgen_filter == "(objectClass=sangerHumgenProjectGroup)"


def test_a_refused_filter_fails_the_command_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_with_filter(tmp_path, "(objectClass=*)")
    assert main(["--config", str(path), "report", "--date", "2026-11-20"]) == 1
    err = capsys.readouterr().err
    assert "[ldap] humgen_filter: (objectClass=*) matches every group" in err
    assert not (tmp_path / "reports").exists()


def test_matches_every_group_is_static() -> None:
    assert matches_every_group(parse_filter("(|)")) is False  # the empty OR matches nothing
    assert matches_every_group(parse_filter("(&(cn=*)(!(cn=x)))")) is False
    assert matches_every_group(parse_filter("(OBJECTCLASS;x-opt=*)")) is True
