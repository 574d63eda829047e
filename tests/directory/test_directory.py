"""The directory layer against a real slapd and against the same data as LDIF."""

from __future__ import annotations

import logging
import pickle
import socket
from dataclasses import replace
from pathlib import Path

import ldap3
import pytest
from ldap3.strategy.base import BaseStrategy
from pytest_mock import MockerFixture

from humgen_storage.config import LdapConfig
from humgen_storage.directory import Group, GroupDirectory, load_directory
from humgen_storage.directory.dn import normalise_dn
from humgen_storage.directory.ldif import LdifDirectory
from humgen_storage.errors import DirectoryError
from tests.directory.sites import GROUP_BASE, PEOPLE_BASE, ldif_config
from tests.services.slapd import SlapdServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ldap"
DEMO_LDIF = FIXTURES / "directory.ldif"


def posix_group_gids(ldif_path: Path) -> set[int]:
    """The gids a complete search must find, counted independently of the code under test."""
    entries = LdifDirectory.from_file(ldif_path).search_subtree(
        GROUP_BASE, "(objectClass=posixGroup)"
    )
    return {int(entry.first("gidNumber") or "") for entry in entries}


@pytest.fixture(scope="module")
def live(slapd: SlapdServer) -> GroupDirectory:
    return load_directory(slapd.ldap_config())


# -------------------------------------------------------------- paging and limits


def test_the_server_size_limit_is_real(slapd: SlapdServer) -> None:
    """A plain search cannot see every group, so the load below must be paging."""
    expected = posix_group_gids(slapd.ldif_path)
    assert len(expected) > slapd.size_limit
    server = ldap3.Server(slapd.url, get_info=ldap3.NONE)
    with ldap3.Connection(server, raise_exceptions=False) as connection:
        connection.search(GROUP_BASE, "(objectClass=posixGroup)", attributes=["gidNumber"])
        assert connection.result["description"] == "sizeLimitExceeded"
        assert len(connection.entries) == slapd.size_limit < len(expected)


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_paged_load_returns_every_group(slapd: SlapdServer, page_size: int) -> None:
    directory = load_directory(slapd.ldap_config(page_size=page_size))
    assert set(directory.groups) == posix_group_gids(slapd.ldif_path)


def test_one_connection_and_one_read_per_distinct_pi(
    slapd: SlapdServer, mocker: MockerFixture
) -> None:
    sockets = mocker.spy(BaseStrategy, "_open_socket")
    binds = mocker.spy(ldap3.Connection, "bind")
    searches = mocker.spy(ldap3.Connection, "search")
    load_directory(slapd.ldap_config())
    assert sockets.call_count == 1
    assert binds.call_count == 1
    base_reads = [
        call.kwargs["search_base"]
        for call in searches.call_args_list
        if call.kwargs.get("search_scope") == ldap3.BASE
    ]
    # hgi and hg-beta share pi1; team113 and hg-case name pi2 in different spellings.
    assert len(base_reads) == len({normalise_dn(dn) for dn in base_reads})
    assert {normalise_dn(dn) for dn in base_reads} == {
        normalise_dn(f"uid={uid},{PEOPLE_BASE}")
        for uid in ("pi1", "pi2", "pi3", "pi4", "gone", "nobody")
    } | {normalise_dn(PEOPLE_BASE)}


# ------------------------------------------------------------------- the answers


def test_names_humgen_flags_and_pis(live: GroupDirectory) -> None:
    assert live.lookup(1001) == Group(1001, "hgi", True, "Barrett")
    assert live.lookup(1002) == Group(1002, "team113", True, "Adams")
    assert live.lookup(1003) == Group(1003, "vr-projects", False, None)
    assert live.lookup(1006) == Group(1006, "users", False, None)
    assert live.lookup(3001) == Group(3001, "hg-alpha", True, "Okafor")
    assert live.lookup(3002).pi == "Barrett"  # shares hgi's PI
    assert live.lookup(3003).pi == "Adams"  # PI DN in another case and spacing
    assert live.lookup(3004) == Group(3004, "génomique", True, "Müller")
    assert live.lookup(3007) == Group(
        3007, "team-with-a-rather-long-name-that-is-folded", True, "Okafor"
    )
    assert live.lookup(2000) == Group(2000, "proj-000", False, None)


def test_pi_dn_spelled_differently_from_the_entry(slapd: SlapdServer) -> None:
    """hg-case names "UID=pi2, OU=People, DC=Example, DC=org"; read on its own, not via team113."""
    for config in (
        slapd.ldap_config(humgen_filter="(cn=hg-case)"),
        ldif_config(slapd.ldif_path, humgen_filter="(cn=hg-case)"),
    ):
        assert load_directory(config).lookup(3003) == Group(3003, "hg-case", True, "Adams")


def test_humgen_group_without_pi_attribute(live: GroupDirectory) -> None:
    assert live.lookup(1004) == Group(1004, "tol", True, None)


def test_missing_pi_entry_gives_no_pi_and_a_warning(
    slapd: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="humgen_storage.directory")
    directory = load_directory(slapd.ldap_config())
    assert directory.lookup(1005) == Group(1005, "cellgen", True, None)
    assert directory.lookup(3005) == Group(3005, "hg-ou-pi", True, None)  # entry has no sn
    warnings = [
        record.getMessage() for record in caplog.records if record.levelno == logging.WARNING
    ]
    assert any("cellgen" in m and "uid=gone,ou=people,dc=example,dc=org" in m for m in warnings)
    assert any("hg-ou-pi" in m and "no sn" in m for m in warnings)
    assert not any(" tol " in m for m in warnings)  # no PI attribute is not a problem


def test_unknown_gid(live: GroupDirectory) -> None:
    assert 4242 not in live.groups
    assert live.lookup(4242) == Group(4242, None, False, None)
    assert live.name(4242) is None
    assert live.name(1001) == "hgi"


def test_entries_outside_group_base_are_ignored(live: GroupDirectory) -> None:
    assert live.lookup(1003) == Group(
        1003, "vr-projects", False, None
    )  # not ou=othergroups' humgen 'outsider'
    assert live.lookup(3030) == Group(3030, None, False, None)


def test_shared_gid_keeps_the_first_by_cn(
    slapd: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="humgen_storage.directory")
    directory = load_directory(slapd.ldap_config())
    assert directory.name(3020) == "dup-a"
    assert any("gid 3020" in record.getMessage() for record in caplog.records)


def test_humgen_gids(live: GroupDirectory) -> None:
    assert live.humgen_gids() == frozenset(
        {1001, 1002, 1004, 1005, 3001, 3002, 3003, 3004, 3005, 3006, 3007}
    )


def test_group_directory_pickles(live: GroupDirectory) -> None:
    assert pickle.loads(pickle.dumps(live)) == live


# ------------------------------------------------------------- LDIF = live server


def test_ldif_mode_gives_the_same_directory_as_the_server(
    slapd: SlapdServer, live: GroupDirectory
) -> None:
    offline = load_directory(ldif_config(slapd.ldif_path))
    assert offline == live


@pytest.mark.parametrize(
    "humgen_filter",
    [
        "(objectClass=sangerHumgenProjectGroup)",
        "objectClass=sangerHumgenProjectGroup",
        "(&(objectClass=sangerHumgenProjectGroup)(!(cn=tol)))",
        "(|(cn=hgi)(cn=TEAM113)(gidNumber=2005))",
        "(cn=hg-*)",
        "(cn=*-*-*)",
        "(sangerProjectPI=*)",
        "(cn=g\\c3\\a9nomique)",
        "(gidNumber>=3003)",
        "(sangerProjectPI=UID=pi1, OU=people,dc=example,dc=org)",
    ],
)
def test_ldif_mode_answers_filters_as_the_server_does(
    slapd: SlapdServer, humgen_filter: str
) -> None:
    live = load_directory(slapd.ldap_config(humgen_filter=humgen_filter))
    offline = load_directory(ldif_config(slapd.ldif_path, humgen_filter=humgen_filter))
    assert offline == live
    assert live.humgen_gids()  # each filter selects something, so the comparison means something


def test_demo_directory(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="humgen_storage.directory")
    directory = load_directory(ldif_config(DEMO_LDIF))
    assert directory.groups == {
        1001: Group(1001, "hgi", True, "Barrett"),
        1002: Group(1002, "team113", True, "Adams"),
        1003: Group(1003, "vr-projects", False, None),
        1004: Group(1004, "tol", True, None),
        1005: Group(1005, "cellgen", True, None),
        1006: Group(1006, "users", False, None),
    }
    assert [record.getMessage() for record in caplog.records] == [
        "directory: humgen group cellgen (gid 1005): PI uid=gone,ou=people,dc=example,dc=org "
        "has no entry in the directory; PI left empty"
    ]


def test_non_integer_gid_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bad-gid.ldif"
    path.write_text(
        f"dn: {GROUP_BASE}\nou: group\n\n"
        f"dn: cn=odd,{GROUP_BASE}\nobjectClass: posixGroup\ncn: odd\ngidNumber: twelve\n\n"
        f"dn: cn=fine,{GROUP_BASE}\nobjectClass: posixGroup\ncn: fine\ngidNumber: 12\n"
    )
    caplog.set_level(logging.WARNING, logger="humgen_storage.directory")
    directory = load_directory(ldif_config(path))
    assert directory.groups == {12: Group(12, "fine", False, None)}
    assert any("cn=odd" in r.getMessage() and "'twelve'" in r.getMessage() for r in caplog.records)


def test_malformed_ldif_is_a_directory_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.ldif"
    path.write_text(f"dn: {GROUP_BASE}\nou: group\n\ndn: cn=a,{GROUP_BASE}\ncn a\n")
    with pytest.raises(DirectoryError, match=rf"^{path}:5: expected 'attribute: value'$"):
        load_directory(ldif_config(path))


def test_missing_group_base_is_an_error_in_both_modes(slapd: SlapdServer) -> None:
    base = "ou=nowhere,dc=example,dc=org"
    with pytest.raises(DirectoryError, match=f"{slapd.url}: .*noSuchObject"):
        load_directory(slapd.ldap_config(group_base=base))
    with pytest.raises(DirectoryError, match="no entries at or below search base"):
        load_directory(ldif_config(slapd.ldif_path, group_base=base))


def test_bad_humgen_filter_is_an_error_in_both_modes(slapd: SlapdServer) -> None:
    for config in (slapd.ldap_config(), ldif_config(slapd.ldif_path)):
        with pytest.raises(DirectoryError, match=r"^\[ldap\] humgen_filter: bad filter"):
            load_directory(replace(config, humgen_filter="(objectClass=x"))


# ------------------------------------------------------------ binding and TLS


def test_anonymous_and_password_binds_give_the_same_answers(
    slapd: SlapdServer,
    live: GroupDirectory,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    config = slapd.ldap_config(bind_dn=slapd.bind_dn, bind_password=slapd.bind_password)
    assert slapd.bind_password not in repr(config)
    assert load_directory(config) == live
    captured = capsys.readouterr()
    assert slapd.bind_password not in caplog.text + captured.out + captured.err


def test_wrong_password_fails_without_showing_it(
    slapd: SlapdServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-" + slapd.bind_password[:8]
    with pytest.raises(DirectoryError) as caught:
        load_directory(slapd.ldap_config(bind_dn=slapd.bind_dn, bind_password=wrong))
    message = str(caught.value)
    assert message.startswith(
        f"LDAP server {slapd.url}: bind as {slapd.bind_dn} failed: invalidCredentials"
    )
    assert "\n" not in message
    captured = capsys.readouterr()
    for text in (message, caplog.text, captured.out, captured.err):
        assert wrong not in text


def test_bind_dn_without_password_is_refused(slapd: SlapdServer) -> None:
    with pytest.raises(DirectoryError, match="no bind password"):
        load_directory(slapd.ldap_config(bind_dn=slapd.bind_dn))


def test_unreachable_server_is_an_error_naming_it() -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"ldap://127.0.0.1:{probe.getsockname()[1]}"
    config = LdapConfig(
        url=url,
        ldif=None,
        bind_dn=None,
        bind_password=None,
        group_base=GROUP_BASE,
        people_base=PEOPLE_BASE,
        timeout=2,
    )
    with pytest.raises(DirectoryError, match=rf"^LDAP server {url}: cannot connect: "):
        load_directory(config)


def test_start_tls_and_ldaps_with_the_site_ca(slapd: SlapdServer, live: GroupDirectory) -> None:
    assert load_directory(slapd.ldap_config(start_tls=True, ca_file=slapd.ca_file)) == live
    assert load_directory(slapd.ldap_config(url=slapd.ldaps_url, ca_file=slapd.ca_file)) == live


def test_start_tls_rejects_a_certificate_from_an_unknown_ca(slapd: SlapdServer) -> None:
    # Without ca_file only the system's CAs are trusted, and they did not sign it.
    with pytest.raises(
        DirectoryError, match=rf"^LDAP server {slapd.url}: cannot connect: .*certificate"
    ):
        load_directory(slapd.ldap_config(start_tls=True))
