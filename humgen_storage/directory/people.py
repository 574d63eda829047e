"""People: uid number -> user name, from the entries under ``[ldap] people_base``.

The report's per-user table names each uid by the ``uid`` of the people entry whose
``uidNumber`` it is (a posixAccount, usually). Names are data (SPEC §11): a name that
cannot be stored or shown as it is (``names.unsafe_text``) is dropped with a warning,
and its uid is reported by number, as a uid with no entry is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from humgen_storage.directory.entry import Entry, integer_attribute
from humgen_storage.names import printable, unsafe_text

log = logging.getLogger(__name__)

PEOPLE_FILTER = "(uidNumber=*)"
PEOPLE_ATTRIBUTES = ("uid", "uidNumber")


def users_by_uid(entries: Iterable[Entry]) -> dict[int, str]:
    """uidNumber -> uid. Several entries with one uidNumber: the first by (uid, DN)
    wins, with a warning, so the choice is stable across runs."""
    candidates: dict[int, list[tuple[str, str]]] = {}
    for entry in entries:
        number, name = integer_attribute(entry, "uidNumber", log), entry.first("uid")
        if number is None:
            continue
        if not name:
            continue  # no name to give: the uid is reported by number
        candidates.setdefault(number, []).append((name, entry.dn))
    users: dict[int, str] = {}
    for number, held in sorted(candidates.items()):
        held.sort()
        name, dn = held[0]
        if len(held) > 1:
            log.warning(
                "directory: uidNumber %d is held by %d people entries (%s); using %s",
                number,
                len(held),
                ", ".join(printable(other) for _, other in held),
                printable(dn),
            )
        problem = unsafe_text(name)
        if problem is not None:
            log.warning(
                'directory: uidNumber %d: user name "%s" %s; the user is reported by uid',
                number,
                printable(name),
                problem,
            )
            continue
        users[number] = name
    return users
