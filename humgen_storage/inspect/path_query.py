"""A PATH argument of ``inspect`` to what it selects: a volume, and rows of it.

The command-line side of the inspector: a path as a person types it (perhaps leaving
out a root's middle components, or above the roots) mapped onto the configured roots.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from humgen_storage.inspect.results import InspectorRow
from humgen_storage.inspect.roots import compile_root


@dataclass(frozen=True)
class PathSelection:
    """What a PATH argument selects: rows of one volume at or below ``short_prefix``;
    with an empty prefix, the rows of the roots whose last component matches one of
    ``root_names`` (every root when that is empty too).

    ``path_root``, when set, is the PATH itself as a root pattern (a PATH under no
    configured root): the volume is aggregated with it instead of its configured roots.
    """

    volume: str
    short_prefix: tuple[bytes, ...] = ()
    root_names: tuple[str, ...] = ()
    path_root: str | None = None

    def roots(self, configured: Sequence[str]) -> tuple[str, ...]:
        """The root patterns to aggregate the volume with."""
        return (self.path_root,) if self.path_root is not None else tuple(configured)

    def selects(self, row: InspectorRow) -> bool:
        if self.short_prefix:
            return row.is_at_or_below(self.short_prefix)
        if not self.root_names:
            return True
        first = row.short_path[0]
        return any(re.fullmatch(name.encode(), first) for name in self.root_names)

    @property
    def project(self) -> tuple[bytes, ...]:
        """The records a PATH query needs: its project (Project Total needs all of it)."""
        return self.short_prefix[:2]


def _matches(pattern: str, component: bytes) -> bool:
    return re.fullmatch(pattern.encode(), component) is not None


def _is_subsequence(components: Sequence[bytes], patterns: Sequence[str]) -> bool:
    """Every component matches a pattern, in order, skipping patterns (greedy is exact)."""
    position = 0
    for component in components:
        while position < len(patterns) and not _matches(patterns[position], component):
            position += 1
        if position == len(patterns):
            return False
        position += 1
    return True


def _human_match(components: Sequence[bytes], root: Sequence[str]) -> int | None:
    """Where the root's last component is in a path that leaves out some of the root's
    middle components (``/lustre/scratch115/projects/foo`` for root
    ``lustre/scratch115/realdata/mdt[0-9]/projects``); None when it is not such a path.
    The first two components (the volume's mount) must be the root's."""
    if len(root) < 3 or len(components) < 3:
        return None
    if not (_matches(root[0], components[0]) and _matches(root[1], components[1])):
        return None
    for index in range(2, len(components)):
        if _matches(root[-1], components[index]) and _is_subsequence(
            components[2:index], root[2:-1]
        ):
            return index
    return None


def _above_root(components: Sequence[bytes], root: Sequence[str]) -> bool:
    """The path is the volume's mount or a directory on the way to the root."""
    if len(components) < 2 or len(root) < 3:
        return False
    return (
        _matches(root[0], components[0])
        and _matches(root[1], components[1])
        and _is_subsequence(components[2:], root[2:-1])
    )


def _on_volume(components: Sequence[bytes], root: Sequence[str]) -> bool:
    """The path lies below the volume's mount (the root's first two components)."""
    return (
        len(root) >= 2
        and len(components) > 2
        and _matches(root[0], components[0])
        and _matches(root[1], components[1])
    )


def path_as_root(path: bytes) -> str:
    """A root pattern matching exactly the normalised absolute ``path`` (any bytes:
    those that are not UTF-8 are kept as surrogates, see ``compile_root``)."""
    return re.escape(path.decode("utf-8", "surrogateescape").strip("/"))


def select_path(path: bytes, roots_by_volume: Mapping[str, Sequence[str]]) -> PathSelection | None:
    """Map a normalised absolute path onto the configured roots (volumes in config order).

    In order of preference: the path matches a root pattern itself; it is a root's
    path with some middle components left out; it lies between a volume's mount and
    its roots; it lies elsewhere below a volume's mount, and is then itself the root
    (its short path is its last component, as the legacy allowed). None when it is
    on no configured volume.
    """
    components = [part for part in path.split(b"/") if part]
    return (
        _matching_a_root(path, roots_by_volume)
        or _a_root_shortened(components, roots_by_volume)
        or _above_roots(components, roots_by_volume)
        or _elsewhere_on_a_volume(path, components, roots_by_volume)
    )


def _matching_a_root(
    path: bytes, roots_by_volume: Mapping[str, Sequence[str]]
) -> PathSelection | None:
    """The path matches a root pattern itself (or lies below one)."""
    for volume, patterns in roots_by_volume.items():
        for pattern in patterns:
            root = compile_root(pattern)
            match = root.regex.match(path, 1) if path[:1] == b"/" else None
            if match is not None:
                start = path.rfind(b"/", 0, match.end()) + 1
                short = tuple(part for part in path[start:].split(b"/") if part)
                return PathSelection(volume, short)
    return None


def _a_root_shortened(
    components: list[bytes], roots_by_volume: Mapping[str, Sequence[str]]
) -> PathSelection | None:
    """The path is a root's path with some middle components left out."""
    for volume, patterns in roots_by_volume.items():
        for pattern in patterns:
            root_components = pattern.strip("/").split("/")
            index = _human_match(components, root_components)
            if index is not None:
                return PathSelection(volume, tuple(components[index:]))
    return None


def _above_roots(
    components: list[bytes], roots_by_volume: Mapping[str, Sequence[str]]
) -> PathSelection | None:
    """The path lies between a volume's mount and its roots: the roots below it."""
    for volume, patterns in roots_by_volume.items():
        below = [
            pattern
            for pattern in patterns
            if _above_root(components, pattern.strip("/").split("/"))
        ]
        if below:
            every_root = len(below) == len(patterns)
            names = (
                () if every_root else tuple(pattern.strip("/").split("/")[-1] for pattern in below)
            )
            return PathSelection(volume, (), names)
    return None


def _elsewhere_on_a_volume(
    path: bytes, components: list[bytes], roots_by_volume: Mapping[str, Sequence[str]]
) -> PathSelection | None:
    """The path lies elsewhere below a volume's mount: it is itself the root."""
    for volume, patterns in roots_by_volume.items():
        if any(_on_volume(components, pattern.strip("/").split("/")) for pattern in patterns):
            return PathSelection(volume, (components[-1],), path_root=path_as_root(path))
    return None
