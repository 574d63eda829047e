"""Which records the splitter writes, and to which group file.

Pure logic, no I/O (spec section 6):

* a record goes to group G when its gid is a humgen group, or when its path equals
  or lies below one of the special prefixes (whole path components) and its gid has
  a posixGroup name; everything else is skipped;
* a group's file is ``<name>.dat.gz`` (``<gid>.dat.gz`` with ``--id``); a name that
  is not a safe file name is skipped.

The per-record work is kept small: the decision that depends only on the gid is made
once per gid, and paths are decoded only for records of named, non-humgen gids whose
path field could start with a special prefix.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from humgen_storage.mpistat.paths import PathDecodeError, encoded_prefix
from humgen_storage.mpistat.patterns import Format

# The rule for group file names is shared with the directory: re-exported here.
from humgen_storage.names import GROUP_FILE_SUFFIX as GROUP_FILE_SUFFIX
from humgen_storage.names import is_safe_file_name as is_safe_file_name


class Rule(enum.Enum):
    """What the gid alone says about a record."""

    ALWAYS = "humgen gid"  # selected whatever the path
    UNDER_PREFIX = "named gid"  # selected only under a special prefix
    NEVER = "unnamed, non-humgen gid"


@dataclass(frozen=True)
class GroupRoute:
    """Where the records of one gid go.

    ``stem`` is the output file's name without ``.dat.gz``; None when the group would
    be selected but its name cannot be a file name (the records are skipped).
    """

    gid: int
    rule: Rule
    stem: str | None
    name: str | None


@dataclass(frozen=True)
class GroupSelector:
    """The selection rule: humgen gids, the special prefixes, and how files are named."""

    humgen_gids: frozenset[int]
    special_prefixes: tuple[bytes, ...]
    by_id: bool = False
    # Each prefix followed by "/", computed once: "below" means whole components.
    below_prefixes: tuple[bytes, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        below = tuple(p if p.endswith(b"/") else p + b"/" for p in self.special_prefixes)
        object.__setattr__(self, "below_prefixes", below)

    @classmethod
    def create(
        cls, humgen_gids: Iterable[int], special_prefixes: Sequence[str], by_id: bool = False
    ) -> GroupSelector:
        prefixes = tuple(normalise_prefix(prefix) for prefix in special_prefixes)
        return cls(frozenset(humgen_gids), tuple(p for p in prefixes if p), by_id)

    def route(self, gid: int, name: str | None) -> GroupRoute:
        """The gid-only part of the decision, given the gid's posixGroup name (or None)."""
        if gid in self.humgen_gids:
            rule = Rule.ALWAYS
        elif name is not None and self.special_prefixes:
            rule = Rule.UNDER_PREFIX
        else:
            return GroupRoute(gid, Rule.NEVER, None, name)
        if self.by_id:
            stem: str | None = str(gid)
        else:
            stem = name if is_safe_file_name(name) else None
        return GroupRoute(gid, rule, stem, name)

    def under_special_prefix(self, path: bytes) -> bool:
        """True when ``path`` equals a prefix or lies below it (whole components)."""
        return path.startswith(self.below_prefixes) or path in self.special_prefixes

    def matcher(self, fmt: Format) -> PrefixMatcher:
        return PrefixMatcher(self, fmt)


def normalise_prefix(prefix: str | bytes) -> bytes:
    """Raw bytes of a configured prefix, without trailing slashes (``/`` itself stays)."""
    raw = prefix.encode("utf-8", "surrogateescape") if isinstance(prefix, str) else prefix
    stripped = raw.rstrip(b"/")
    return stripped if stripped else raw


class PrefixMatcher:
    """Tests raw path fields of one input format against the special prefixes.

    For the base64 format a path can only start with a prefix if its field starts with
    the base64 of the prefix's first whole 3-byte groups; checking that first means
    most records (paths on other volumes, other trees) are never decoded. Decoding is
    the fallback that decides.
    """

    def __init__(self, selector: GroupSelector, fmt: Format) -> None:
        self.selector = selector
        self.field_heads: tuple[bytes, ...] | None = None
        if fmt is Format.BASE64:
            self.field_heads = tuple(
                encoded_prefix(prefix, quoted=False) for prefix in selector.special_prefixes
            )
        self.undecodable = 0
        first, after_newline = self._candidate_patterns()
        self._first_candidate = first.match
        self._candidates_after = after_newline.findall
        self._decode = fmt.decode_path

    def _candidate_patterns(self) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
        """(a candidate line at the start, a newline then a candidate line), each
        capturing the line without its newline, then its path field. Candidates are
        the lines whose path field may match: a superset of the lines whose field,
        decoded, is under a prefix. The second pattern starts with a newline and, for
        base64, the field's fixed head, which the regular expression engine searches for
        fast (``^`` with ``re.M`` would try every position of every line)."""
        if not self.selector.special_prefixes:
            path_field = rb"(?!)"  # nothing can be under no prefix
        elif self.field_heads is not None:
            # base64: only fields starting with one of the heads are decoded.
            heads = b"|".join(re.escape(head) for head in self.field_heads)
            path_field = rb"(?:" + heads + rb")[^\t]*+"
        else:
            # Go-quoted: a field without a backslash (escape) or NUL byte, and not
            # empty, decodes to its bytes between the quotes, so it can only match when
            # it starts with each prefix's leading bytes that quoting never changes.
            # Every other field (escapes, NUL, empty: the only undecodable ones) stays
            # a candidate.
            # Each prefix's quoted head after its opening quote, which the pattern has.
            literal = b"|".join(
                re.escape(encoded_prefix(p, quoted=True)[1:])
                for p in self.selector.special_prefixes
            )
            path_field = rb'"(?:' + literal + rb'|[^\t\\\x00]*+[\\\x00]|")[^\t]*+'
        line = b"((" + path_field + rb")\t[^\n]*+)"
        # The newline after the line is looked at, not consumed: it starts the next.
        return re.compile(line + rb"\n"), re.compile(rb"\n" + line + rb"(?=\n)")

    def lines_under_prefix(
        self, data: bytes, start: int = 0, end: int | None = None
    ) -> list[bytes]:
        """The lines of ``data[start:end]`` (valid lines of this format, each ending in a
        newline; ``start`` at the beginning of a line) whose path is under a special
        prefix, in order, without their newline.

        Most lines are ruled out by a regular expression over the whole range: only
        lines whose raw field could decode to a path starting with a prefix are
        decoded (and an undecodable one is counted in ``undecodable``).
        """
        if end is None:
            end = len(data)
        if start:  # from the newline that ends the line before
            candidates = self._candidates_after(data, start - 1, end)
            if not candidates:
                return []
        else:
            candidates = self._candidates_after(data, 0, end)
            head = self._first_candidate(data, 0, end)
            if head is not None:
                candidates.insert(0, head.groups())
        decode, under = self._decode, self.selector.under_special_prefix
        selected = []
        for line, path_field in candidates:
            # The candidates have the base64 heads: decode and compare.
            try:
                path = decode(path_field)
            except PathDecodeError:
                self.undecodable += 1
                continue
            if under(path):
                selected.append(line)
        return selected
