"""DN normalisation and subtree scope, as a server's distinguishedNameMatch decides them."""

from __future__ import annotations

import pytest

from humgen_storage.directory.dn import DnError, is_within, normalise_dn


@pytest.mark.parametrize(
    "variant",
    [
        "uid=pi1,ou=people,dc=example,dc=org",
        "UID=PI1,OU=People,DC=Example,DC=ORG",
        "uid = pi1 , ou=people ,dc= example,  dc=org",
        "  uid=pi1,ou=people,dc=example,dc=org  ",
        "uid=pi\\31,ou=people,dc=example,dc=org",
    ],
)
def test_dn_normalisation_ignores_case_and_spaces(variant: str) -> None:
    assert normalise_dn(variant) == normalise_dn("uid=pi1,ou=people,dc=example,dc=org")


def test_dn_normalisation_keeps_what_matters() -> None:
    assert normalise_dn("cn=a\\,b,dc=org") == normalise_dn("cn=a\\2Cb,dc=org")
    assert normalise_dn("cn=a\\,b,dc=org") != normalise_dn("cn=a,cn=b,dc=org")
    assert normalise_dn("cn=a+uid=b,dc=org") == normalise_dn("UID=b + cn=A,dc=org")
    assert normalise_dn("cn=a\\ b,dc=org") == normalise_dn("cn=a b,dc=org")
    assert normalise_dn("cn=g\\C3\\A9nomique,dc=org") == normalise_dn("cn=GÉNOMIQUE,dc=org")
    assert normalise_dn("") == ()


@pytest.mark.parametrize(
    "bad", ["no equals sign", "cn=a,,dc=org", "cn=a\\zz,dc=org", "=a,dc=org", "cn=a\\"]
)
def test_malformed_dns_are_rejected(bad: str) -> None:
    with pytest.raises(DnError):
        normalise_dn(bad)


def test_is_within_is_subtree_scope() -> None:
    base = normalise_dn("ou=group,dc=example,dc=org")
    assert is_within(normalise_dn("ou=group,dc=example,dc=org"), base)
    assert is_within(normalise_dn("cn=hgi,OU=Group,dc=example,dc=org"), base)
    assert not is_within(normalise_dn("cn=hgi,ou=othergroups,dc=example,dc=org"), base)
    assert not is_within(normalise_dn("dc=example,dc=org"), base)
