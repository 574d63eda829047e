"""The LDIF directory the directory tests read: its bases and its configuration
(holds no tests)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from humgen_storage.config import LdapConfig

GROUP_BASE = "ou=group,dc=example,dc=org"
PEOPLE_BASE = "ou=people,dc=example,dc=org"


def ldif_config(path: Path, **changes: Any) -> LdapConfig:
    config = LdapConfig(
        url=None,
        ldif=path,
        bind_dn=None,
        bind_password=None,
        group_base=GROUP_BASE,
        people_base=PEOPLE_BASE,
    )
    return replace(config, **changes)
