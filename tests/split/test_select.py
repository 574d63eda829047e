"""The splitter's pure rules: group selection, safe file names, index.txt values."""

from __future__ import annotations

import binascii
import random

import pytest

from humgen_storage.mpistat.paths import go_quote
from humgen_storage.mpistat.patterns import Format
from humgen_storage.split.index import IndexConstants, index_row, index_sort_key
from humgen_storage.split.select import GroupSelector, PrefixMatcher, Rule, is_safe_file_name
from tests.helpers import default_index_constants

PREFIXES = (
    "/lustre/scratch116/vr/projects",
    "/lustre/scratch116/humgen/projects/",  # a trailing slash in the config is harmless
)


def selector(by_id: bool = False) -> GroupSelector:
    return GroupSelector.create({1001, 1002, 2001}, PREFIXES, by_id=by_id)


# ------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    "name, safe",
    [
        ("hgi", True),
        ("team113", True),
        ("vr-projects", True),
        ("with space", True),
        ("café", True),
        ("a.b", True),
        ("", False),
        (None, False),
        (".hidden", False),
        (".", False),
        ("..", False),
        ("bad/name", False),
        ("/", False),
        ("nul\0byte", False),
        ("x" * 248, True),  # 248 + len(".dat.gz") == 255
        ("x" * 249, False),  # too long for a file name
    ],
)
def test_safe_file_name(name: str | None, safe: bool) -> None:
    assert is_safe_file_name(name) is safe


# ------------------------------------------------------------------ routes by gid


def test_humgen_gid_is_always_selected_under_its_name() -> None:
    route = selector().route(1001, "hgi")
    assert (route.rule, route.stem) == (Rule.ALWAYS, "hgi")


def test_named_gid_needs_a_special_prefix() -> None:
    route = selector().route(1003, "vr-projects")
    assert (route.rule, route.stem) == (Rule.UNDER_PREFIX, "vr-projects")


def test_gid_without_a_posix_group_is_never_selected() -> None:
    assert selector().route(4242, None).rule is Rule.NEVER


def test_named_gid_without_prefixes_is_never_selected() -> None:
    assert GroupSelector.create({1001}, ()).route(1003, "vr-projects").rule is Rule.NEVER


def test_unsafe_name_has_no_stem_unless_by_id() -> None:
    assert selector().route(2001, ".hidden").stem is None
    assert selector().route(1003, "bad/name").stem is None
    assert selector(by_id=True).route(2001, ".hidden").stem == "2001"
    assert selector(by_id=True).route(1003, "vr-projects").stem == "1003"
    # a humgen gid is selected even without a name; by id it can be written
    assert selector().route(1002, None).rule is Rule.ALWAYS
    assert selector().route(1002, None).stem is None
    assert selector(by_id=True).route(1002, None).stem == "1002"


# ------------------------------------------------------------------ special prefixes


@pytest.mark.parametrize(
    "path, under",
    [
        (b"/lustre/scratch116/vr/projects", True),
        (b"/lustre/scratch116/vr/projects/x", True),
        (b"/lustre/scratch116/vr/projects/x/y\tz\n", True),
        (b"/lustre/scratch116/vr/projects/\xff\xfe", True),
        (b"/lustre/scratch116/humgen/projects", True),
        (b"/lustre/scratch116/humgen/projects/a", True),
        (b"/lustre/scratch116/vr/projects2/x", False),
        (b"/lustre/scratch116/vr/projects2", False),
        (b"/lustre/scratch116/vr/project", False),
        (b"/lustre/scratch116/vr", False),
        (b"/lustre/scratch118/vr/projects/x", False),
        (b"lustre/scratch116/vr/projects/x", False),
    ],
)
def test_special_prefix_compares_whole_components(path: bytes, under: bool) -> None:
    assert selector().under_special_prefix(path) is under


def _field(fmt: Format, path: bytes) -> bytes:
    if fmt is Format.WRSTAT:
        return go_quote(path)
    return binascii.b2a_base64(path, newline=False)


def _selects(matcher: PrefixMatcher, fmt: Format, path: bytes) -> bool:
    """Whether the matcher selects a one-line block whose path field is ``path``'s."""
    line = _field(fmt, path) + b"\trest"
    selected = matcher.lines_under_prefix(line + b"\n")
    assert selected in ([], [line])
    return bool(selected)


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_matcher_on_raw_fields_agrees_with_decoded_paths(fmt: Format) -> None:
    rng = random.Random(5)
    heads = [
        b"/lustre/scratch116/vr/projects",
        b"/lustre/scratch116/vr/projects2",
        b"/lustre/scratch116/humgen/projects",
        b"/lustre/scratch116/vr/proj",
        b"/lustre/scratch118",
        b"/",
    ]
    tails = [b"", b"/", b"/a", b'/\t\n"\\', b"/\xffx"]
    chosen = selector()
    matcher = chosen.matcher(fmt)
    for _ in range(500):
        path = (
            rng.choice(heads)
            + rng.choice(tails)
            + bytes(rng.randrange(1, 256) for _ in range(rng.randrange(3)))
        )
        path = path.replace(b"\0", b"")
        assert _selects(matcher, fmt, path) is chosen.under_special_prefix(path), path


def test_base64_matcher_does_not_decode_paths_that_cannot_match(mocker) -> None:  # type: ignore[no-untyped-def]
    decode = mocker.spy(Format, "decode_path")
    matcher = selector().matcher(Format.BASE64)
    assert not _selects(matcher, Format.BASE64, b"/lustre/scratch118/humgen/x")
    assert decode.call_count == 0
    assert _selects(matcher, Format.BASE64, b"/lustre/scratch116/vr/projects/x")
    assert decode.call_count == 1


def test_undecodable_field_is_counted_not_matched() -> None:
    matcher = selector().matcher(Format.BASE64)
    bad = _field(Format.BASE64, b"/lustre/scratch116/vr/projects/x")[
        :-1
    ]  # length not a multiple of 4
    assert matcher.lines_under_prefix(bad + b"\trest\n") == []
    assert matcher.undecodable == 1


# ------------------------------------------------------------------ index.txt values


# 1000 lines; dirs chosen for each band of bytes per node (dir % = dirs / 10).
# build time = 1000 / 11000 + 100 = 100.0909..., printed as Python prints the float.
# memory = (2 * dirs + 50) * bytes per node.
@pytest.mark.parametrize(
    "dirs, memory",
    [
        (0, 50 * 12000),  # 0 %
        (7, 64 * 12000),  # 0.7 % < 0.8            -> 12000: 768000
        (8, 66 * 10000),  # 0.8 % is not < 0.8     -> 10000: 660000
        (14, 78 * 10000),  # 1.4 % < 1.5           -> 10000: 780000
        (15, 80 * 9000),  # 1.5 %                  -> 9000: 720000
        (19, 88 * 9000),  # 1.9 % < 2              -> 9000: 792000
        (20, 90 * 8500),  # 2 %                    -> 8500: 765000
        (39, 128 * 8500),  # 3.9 % < 4             -> 8500: 1088000
        (40, 130 * 8000),  # 4 %                   -> 8000: 1040000
        (1000, 2050 * 8000),  # 100 %              -> 8000: 16400000
    ],
)
def test_index_bands(dirs: int, memory: int) -> None:
    row = index_row("hgi", 1000, dirs, default_index_constants())
    assert row.memory_bytes == memory
    assert row.line() == f"hgi\t100.0909090909091\t{memory}\n"


def test_index_hand_computed_values() -> None:
    assert index_row("g", 11000, 0, default_index_constants()).line() == "g\t101.0\t600000\n"
    assert (
        index_row("g", 1, 1, default_index_constants()).line() == "g\t100.00009090909091\t416000\n"
    )
    assert (
        index_row("g", 5500, 100, default_index_constants()).line() == "g\t100.5\t2250000\n"
    )  # 1.82 %: (200 + 50) * 9000


def test_index_constants_are_configurable() -> None:
    constants = IndexConstants(
        lines_per_second=10.0,
        base_seconds=1.0,
        node_bytes_bands=((50.0, 7), (float("inf"), 3)),
        node_overhead=1,
    )
    assert index_row("g", 20, 5, constants).line() == "g\t3.0\t77\n"  # 25 % < 50: (10 + 1) * 7
    assert index_row("g", 20, 10, constants).line() == "g\t3.0\t63\n"  # 50 %: (20 + 1) * 3


def test_index_order() -> None:
    names = ["team113", "Zeta", "hgi", "café", "cafe"]
    assert sorted(names, key=lambda n: index_sort_key(n, False)) == [
        "Zeta",
        "cafe",
        "café",
        "hgi",
        "team113",
    ]
    gids = ["1002", "999", "1001"]
    assert sorted(gids, key=lambda n: index_sort_key(n, True)) == ["999", "1001", "1002"]
