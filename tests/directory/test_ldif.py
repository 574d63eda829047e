"""The LDIF reader and the offline directory's searches (no server)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from humgen_storage.directory.dn import normalise_dn
from humgen_storage.directory.ldif import LdifDirectory, LdifError, read_ldif

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ldap"


def write_ldif(tmp_path: Path, text: str, name: str = "directory.ldif") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# ------------------------------------------------------------------------ reading


def test_reads_entries_with_repeated_attributes_in_order(tmp_path: Path) -> None:
    path = write_ldif(
        tmp_path,
        "dn: cn=hgi,ou=group,dc=example,dc=org\n"
        "objectClass: posixGroup\n"
        "objectClass: sangerHumgenProjectGroup\n"
        "cn: hgi\n"
        "gidNumber: 1001\n"
        "\n"
        "dn: cn=users,ou=group,dc=example,dc=org\n"
        "objectClass: posixGroup\n"
        "cn: users\n"
        "gidNumber: 1006\n",
    )
    first, second = read_ldif(path)
    assert first.dn == "cn=hgi,ou=group,dc=example,dc=org"
    assert first.values("objectclass") == ("posixGroup", "sangerHumgenProjectGroup")
    assert first.first("GIDNUMBER") == "1001"
    assert second.first("cn") == "users"
    assert second.first("sangerProjectPI") is None


def test_base64_values_and_dn(tmp_path: Path) -> None:
    path = write_ldif(
        tmp_path,
        f"dn:: {b64('cn=génomique,ou=group,dc=example,dc=org')}\n"
        f"cn:: {b64('génomique')}\n"
        f"description::{b64(' leading space, kept')}\n",
    )
    (entry,) = read_ldif(path)
    assert entry.dn == "cn=génomique,ou=group,dc=example,dc=org"
    assert entry.first("cn") == "génomique"
    assert entry.first("description") == " leading space, kept"


def test_binary_base64_value_does_not_stop_the_file(tmp_path: Path) -> None:
    photo = base64.b64encode(b"\xff\xd8\xff\xe0 not utf-8").decode()
    path = write_ldif(
        tmp_path, f"dn: uid=pi1,ou=people,dc=example,dc=org\njpegPhoto:: {photo}\nsn: Barrett\n"
    )
    (entry,) = read_ldif(path)
    assert entry.first("sn") == "Barrett"
    assert entry.first("jpegPhoto") is not None


def test_folded_lines_are_joined_without_the_leading_space(tmp_path: Path) -> None:
    folded_base64 = b64("génomique")
    path = write_ldif(
        tmp_path,
        "dn: cn=team-with-a-long-name,ou=gr\n"
        " oup,dc=example,dc=org\n"
        "cn: team-with-\n"
        " a-long-name\n"
        "description: two  spaces\n"
        "  survive: the first space of a continuation is the only one removed\n"
        f"displayName:: {folded_base64[:6]}\n"
        f" {folded_base64[6:]}\n",
    )
    (entry,) = read_ldif(path)
    assert entry.dn == "cn=team-with-a-long-name,ou=group,dc=example,dc=org"
    assert entry.first("cn") == "team-with-a-long-name"
    assert entry.first("description") == (
        "two  spaces survive: the first space of a continuation is the only one removed"
    )
    assert entry.first("displayName") == "génomique"


def test_comments_version_and_crlf(tmp_path: Path) -> None:
    path = write_ldif(
        tmp_path,
        "# a comment before the version line\r\n"
        "version: 1\r\n"
        "\r\n"
        "# a comment that is folded\r\n"
        " over two lines: dn: cn=not-an-entry\r\n"
        "dn: cn=hgi,ou=group,dc=example,dc=org\r\n"
        "# a comment inside an entry\r\n"
        "cn: hgi\r\n"
        "\r\n"
        "\r\n"
        "# a trailing comment\r\n",
    )
    (entry,) = read_ldif(path)
    assert entry.dn == "cn=hgi,ou=group,dc=example,dc=org"
    assert entry.attributes == {"cn": ("hgi",)}


def test_version_line_directly_followed_by_an_entry(tmp_path: Path) -> None:
    path = write_ldif(tmp_path, "version: 1\ndn: cn=hgi,ou=group,dc=example,dc=org\ncn: hgi\n")
    (entry,) = read_ldif(path)
    assert entry.first("cn") == "hgi"


def test_trailing_spaces_are_part_of_the_value_as_slapadd_keeps_them(tmp_path: Path) -> None:
    path = write_ldif(tmp_path, "dn: cn=x,dc=example,dc=org\ndescription: padded   \n")
    assert read_ldif(path)[0].first("description") == "padded   "


def test_attribute_options_are_dropped_from_the_name(tmp_path: Path) -> None:
    path = write_ldif(tmp_path, "dn: cn=x,dc=example,dc=org\ncn: x\ncn;lang-fr: ixe\n")
    assert read_ldif(path)[0].values("cn") == ("x", "ixe")


def test_changetype_add_records_are_content(tmp_path: Path) -> None:
    path = write_ldif(tmp_path, "dn: cn=x,dc=example,dc=org\nchangetype: add\ncn: x\n")
    assert read_ldif(path)[0].attributes == {"cn": ("x",)}


def test_the_demo_directory_holds_exactly_the_documented_groups() -> None:
    directory = LdifDirectory.from_file(FIXTURES / "directory.ldif")
    groups = {
        entry.first("cn"): entry.first("gidNumber")
        for entry in directory.search_subtree(
            "ou=group,dc=example,dc=org", "(objectClass=posixGroup)"
        )
    }
    assert groups == {
        "hgi": "1001",
        "team113": "1002",
        "vr-projects": "1003",
        "tol": "1004",
        "cellgen": "1005",
        "users": "1006",
    }


def test_the_test_directory_contains_the_demo_directory_unchanged() -> None:
    """So the live-server tests and the offline demo agree on gids 1001-1006."""
    demo = {normalise_dn(entry.dn): entry for entry in read_ldif(FIXTURES / "directory.ldif")}
    test = {normalise_dn(entry.dn): entry for entry in read_ldif(FIXTURES / "test-directory.ldif")}
    for dn, entry in demo.items():
        assert test.get(dn) == entry


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "dn: cn=a,dc=example,dc=org\ncn: a\nthis line has no colon\n",
            3,
            "expected 'attribute: value'",
        ),
        ("dn: cn=a,dc=example,dc=org\ncn:: not base64!\n", 2, "not valid base64"),
        (" continuation first\n", 1, "continuation line"),
        ("\ndn: cn=a,dc=example,dc=org\n\n cn: a\n", 4, "continuation line"),
        ("# fine\n\ncn: a\n", 3, "expected 'dn:'"),
        ("dn: cn=a,dc=example,dc=org\nbad name!: x\n", 2, "bad attribute name"),
        ("dn: not a dn\ncn: a\n", 1, "not a DN"),
        ("dn: cn=a,dc=example,dc=org\nchangetype: modify\n", 2, "change records are not supported"),
        ("dn: cn=a,dc=example,dc=org\njpegPhoto:< file:///tmp/x.jpg\n", 2, "URL values"),
        ("version: 2\n\ndn: cn=a,dc=example,dc=org\n", 1, "unsupported LDIF version"),
        ("dn: cn=a,dc=example,dc=org\n\n\ndn: CN=A, DC=Example,DC=org\n", 4, "duplicate entry"),
    ],
)
def test_malformed_ldif_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write_ldif(tmp_path, text)
    with pytest.raises(LdifError) as caught:
        read_ldif(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ")
    assert fragment in message
    assert "\n" not in message
    assert caught.value.line == line


def test_non_utf8_plain_value_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ldif"
    path.write_bytes(b"dn: cn=a,dc=example,dc=org\ncn: caf\xe9\n")
    with pytest.raises(LdifError, match=r":2: value of 'cn' is not UTF-8"):
        read_ldif(path)


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.ldif"
    with pytest.raises(LdifError, match="absent.ldif: cannot read LDIF file"):
        read_ldif(path)


# ----------------------------------------------------------------------- queries


def test_subtree_search_and_base_read(tmp_path: Path) -> None:
    path = write_ldif(
        tmp_path,
        "dn: ou=group,dc=example,dc=org\nobjectClass: organizationalUnit\nou: group\n\n"
        "dn: cn=hgi,ou=group,dc=example,dc=org\nobjectClass: posixGroup\ncn: hgi\ngidNumber: 1001\n\n"
        "dn: cn=x,ou=other,dc=example,dc=org\nobjectClass: posixGroup\ncn: x\ngidNumber: 9\n\n"
        "dn: uid=pi1,ou=people,dc=example,dc=org\nsn: Barrett\n",
    )
    directory = LdifDirectory.from_file(path)
    assert len(directory) == 4
    found = list(directory.search_subtree("OU=group, DC=example,dc=org", "(objectClass=*)"))
    assert [entry.first("cn") or entry.first("ou") for entry in found] == ["group", "hgi"]
    assert directory.has_subtree("ou=other,dc=example,dc=org")  # no entry of its own, but below
    assert not directory.has_subtree("ou=nowhere,dc=example,dc=org")
    person = directory.read("UID=pi1 , ou=People,dc=example,dc=org")
    assert person is not None and person.first("sn") == "Barrett"
    assert directory.read("uid=gone,ou=people,dc=example,dc=org") is None
    assert directory.read("not a dn") is None
