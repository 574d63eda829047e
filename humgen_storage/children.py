"""The environment of every program the product starts (``lfs``, ``bsub``): its own,
without the product's secrets (SPEC section 11).

A password given in the environment is for this process; an outside program never
needs it, and a child's environment is readable by more people and tools than the
configuration file (``/proc/<pid>/environ`` to its owner, LSF's job records).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_SECRET_NAMES = frozenset({"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def is_secret(name: str) -> bool:
    """The product's secrets: ``HUMGEN_*PASSWORD*`` and the AWS secret key and token."""
    return name in _SECRET_NAMES or (name.startswith("HUMGEN_") and "PASSWORD" in name)


def child_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` without the product's secrets."""
    return {name: value for name, value in environ.items() if not is_secret(name)}
