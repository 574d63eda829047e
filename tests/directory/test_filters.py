"""RFC 4515 search filters: parsing and evaluation against one entry (no server)."""

from __future__ import annotations

import pytest

from humgen_storage.directory.entry import Entry
from humgen_storage.directory.filters import FilterError, parse_filter

GROUP = Entry.from_pairs(
    "cn=hgi,ou=group,dc=example,dc=org",
    [
        ("objectClass", "posixGroup"),
        ("objectClass", "sangerHumgenProjectGroup"),
        ("cn", "hgi"),
        ("gidNumber", "1001"),
        ("description", "Human  Genetics (HGI) *star* a\\b"),
        ("sangerProjectPI", "uid=pi1,ou=people,dc=example,dc=org"),
        ("displayName", "génomique"),
    ],
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(objectClass=posixGroup)", True),
        ("(OBJECTCLASS=POSIXGROUP)", True),
        ("(cn=team113)", False),
        ("(gidNumber=*)", True),
        ("(memberUid=*)", False),
        ("(&(objectClass=posixGroup)(cn=hgi))", True),
        ("(&(objectClass=posixGroup)(cn=tol))", False),
        ("(|(cn=tol)(cn=hgi))", True),
        ("(|(cn=tol)(cn=users))", False),
        ("(!(cn=hgi))", False),
        ("(!(cn=tol))", True),
        ("(&(objectClass=sangerHumgenProjectGroup)(!(|(cn=tol)(cn=cellgen))))", True),
        ("( & (cn=hgi) (gidNumber=1001) )", True),
        ("(&)", True),
        ("(|)", False),
        ("objectClass=posixGroup", True),
        ("(description=human genetics \\28hgi\\29 \\2astar\\2a a\\5cb)", True),
        ("(description=human genetics (hgi) *star*)", None),
        ("(description=*\\2astar\\2a*)", True),
        ("(description=human*(hgi)*)", None),
        ("(description=human*\\28hgi\\29*)", True),
        ("(cn=h*)", True),
        ("(cn=*i)", True),
        ("(cn=*g*)", True),
        ("(cn=x*)", False),
        ("(cn=hg*gi)", False),
        ("(displayName=g\\c3\\a9nomique)", True),
        ("(displayName=GÉNOMIQUE)", True),
        ("(gidNumber>=999)", True),
        ("(gidNumber>=1002)", False),
        ("(gidNumber<=1001)", True),
        ("(sangerProjectPI=UID=PI1, OU=people, dc=example,dc=org)", True),
        ("(sangerProjectPI=uid=pi2,ou=people,dc=example,dc=org)", False),
    ],
)
def test_filter_evaluation(text: str, expected: bool | None) -> None:
    if expected is None:  # unescaped parentheses in a value are a syntax error
        with pytest.raises(FilterError):
            parse_filter(text)
        return
    assert parse_filter(text).matches(GROUP) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(cn=hgi", "expected ')'"),
        ("(cn=hgi))", "unexpected text"),
        ("(&(cn=hgi)", "expected ')'"),
        ("(cn~=hgi)", "approximate"),
        ("(cn:caseExactMatch:=hgi)", "extensible"),
        ("(cn=a\\zz)", "bad escape"),
        ("(cn=a\\ff)", "not UTF-8"),
        ("(=hgi)", "bad attribute name"),
        ("(cn)", "expected an attribute"),
        ("", "expected an attribute"),
    ],
)
def test_bad_filters_are_rejected_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(FilterError, match=fragment.replace("(", "\\(").replace(")", "\\)")):
        parse_filter(text)
