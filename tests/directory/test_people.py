"""People: uidNumber -> uid under [ldap] people_base, from a live slapd and from LDIF."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from humgen_storage.directory import load_directory
from humgen_storage.run.staging import StagingArea
from tests.directory.sites import GROUP_BASE, PEOPLE_BASE, ldif_config
from tests.services.slapd import SlapdServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ldap"
DEMO_LDIF = FIXTURES / "directory.ldif"
TOP = f"dn: {GROUP_BASE}\nou: group\n\ndn: {PEOPLE_BASE}\nou: people\n\n"


def person(uid: str, number: str, extra: str = "") -> str:
    return (
        f"dn: uid={uid},{PEOPLE_BASE}\nobjectClass: posixAccount\nuid: {uid}\n"
        f"uidNumber: {number}\n{extra}\n"
    )


def test_the_demo_directory_names_its_people() -> None:
    directory = load_directory(ldif_config(DEMO_LDIF))
    # pi1 and pi2 are inetOrgPersons without a uidNumber: not users.
    assert directory.users == {1: "alice", 2: "bob"}
    assert directory.users_problem is None
    assert directory.user_name(1) == "alice"
    assert directory.user_name(3) is None


def test_the_server_and_the_ldif_give_the_same_people(slapd: SlapdServer) -> None:
    live = load_directory(slapd.ldap_config())
    offline = load_directory(ldif_config(slapd.ldif_path))
    assert live.users == offline.users == {1: "alice", 2: "bob"}
    assert pickle.loads(pickle.dumps(live)) == live


def test_people_outside_the_base_and_odd_entries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "people.ldif"
    path.write_text(
        TOP
        + person("carol", "500")
        + person("dave", "500")  # the same uidNumber: first by uid (carol) wins
        + person("erin", "five hundred")  # not an integer: skipped
        + f"dn: uid=nameless,{PEOPLE_BASE}\nobjectClass: posixAccount\nuidNumber: 501\n\n"
        + person("bad", "502").replace("uid: bad", "uid:: YmFkCW5hbWU=")  # "bad\tname"
        + f"dn: uid=frank,{GROUP_BASE}\nobjectClass: posixAccount\nuid: frank\nuidNumber: 503\n\n"
        + person("grace", "4294967296")  # beyond 32 bits: a number like any other
    )
    caplog.set_level(logging.WARNING, logger="humgen_storage.directory")
    directory = load_directory(ldif_config(path))
    assert directory.users == {500: "carol", 4294967296: "grace"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("uidNumber 500 is held by 2 people entries" in m for m in messages)
    assert any("'five hundred'" in m for m in messages)
    assert any('uidNumber 502: user name "bad\\x09name" holds a control' in m for m in messages)
    # The users travel to the volumes' tasks through the staging area.
    area = StagingArea(tmp_path / "report" / ".staging" / "20261120")
    area.save_directory(directory)
    assert area.load_directory() == directory


def test_a_missing_people_base_reports_users_by_number_in_both_modes(
    slapd: SlapdServer, tmp_path: Path
) -> None:
    base = "ou=nobody,dc=example,dc=org"
    for config in (
        slapd.ldap_config(people_base=base),
        ldif_config(slapd.ldif_path, people_base=base),
    ):
        directory = load_directory(config)
        assert directory.users == {}
        assert directory.users_problem is not None
        assert directory.users_problem.startswith("no user names ([ldap] people_base): ")
        assert base in directory.users_problem
        assert directory.groups  # the groups are loaded all the same
    area = StagingArea(tmp_path / "report" / ".staging" / "20261120")
    area.save_directory(directory)
    assert area.load_directory().users_problem == directory.users_problem
