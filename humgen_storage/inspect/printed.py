"""The printed table's text for a whole volume's rows at once (``rows.write_table``).

A ``TableRow`` a row, with its numbers formatted one at a time in Python, costs more
than all the rest of a run's end on a volume of tens of thousands of rows. Here each
column is made for every row at once, with exactly the text that the per-row code
(``TableRow.project_values``/``generic_values`` and ``tsv.tsv_line``) gives:

- sizes are rounded exactly, on integers, from the float64 that Python's ``size /
  2**40`` (or ``/ 1024**k``) gives, half to even as ``round`` does; ``str`` of such a
  rounded float is its decimals, because float64 is far finer than the last decimal
  for every value a size can have (so no shorter text reads back as the same float);
- days are rounded the same way from the float64 of ``days_since``, whose ``(reference
  - mtime) / 86400`` numpy computes with the same IEEE operations as Python; the few
  values too large for that argument (or sizes beyond int64) go through the per-row
  functions;
- names are decoded all at once, and PI and Unix Group looked up once per gid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.directory import GroupDirectory
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.mpistat.paths import display_name
from humgen_storage.tsv import NULL
from humgen_storage.units import NO_MTIME, days_since, human_size, tib

Unsigned = npt.NDArray[np.uint64]
Texts = list[str]

TOTAL_DIRECTORY = "*TOTAL*"
_TIB_SHIFT = 40  # 2**40 bytes a TiB
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")  # as units.human_size names them
# Days at least this large go through days_since one at a time: below it, float64's
# step (2**-6 at most) is far finer than the tenth a day they are rounded to.
_DAYS_EXACT_BELOW = 2.0**47
# int64 differences below this are exact in float64 (an integer reference's days).
_FLOAT_EXACT_BELOW = 2**52


def _decimals(places: int) -> list[str]:
    """The text after the integer part for each value of ``places`` decimals, as ``str``
    of a float shows it: trailing zeros dropped, at least one digit."""
    return ["." + (f"{value:0{places}d}".rstrip("0") or "0") for value in range(10**places)]


_DECIMALS = {places: _decimals(places) for places in (1, 2, 3)}


def rounded_fraction(values: Unsigned, shift: int, scale: int) -> Unsigned:
    """``values * scale / 2**shift`` rounded half to even, exactly (``values`` below
    2**64, ``scale * 2**shift`` below 2**64): the high and low bits are scaled apart
    so that nothing overflows."""
    mask = np.uint64((1 << shift) - 1)
    low = (values & mask) * np.uint64(scale)
    whole = (values >> np.uint64(shift)) * np.uint64(scale) + (low >> np.uint64(shift))
    left = low & mask
    half = np.uint64(1 << (shift - 1))
    up = (left > half) | ((left == half) & ((whole & np.uint64(1)) == 1))
    return whole + up.astype(np.uint64)


def _by_value(values: npt.NDArray[Any], texts: Callable[[npt.NDArray[Any]], Texts]) -> Texts:
    """``texts(values)``, made once per distinct value (a column repeats many)."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array(texts(distinct), dtype=object)[inverse.reshape(-1)].tolist()


def decimal_texts(units: Unsigned, places: int, suffix: str) -> Texts:
    """``str`` of each ``units / 10**places`` as a float (``1250`` with 3 places is
    ``1.25``, ``0`` is ``0.0``), then ``suffix``."""
    power = np.uint64(10**places)
    decimals = _DECIMALS[places]

    def texts(distinct: npt.NDArray[Any]) -> Texts:
        wholes, parts = (distinct // power).tolist(), (distinct % power).tolist()
        return [f"{w}{decimals[p]}{suffix}" for w, p in zip(wholes, parts, strict=True)]

    return _by_value(units, texts)


def integer_texts(values: npt.NDArray[Any], suffix: str) -> Texts:
    """``str`` of each integer, then ``suffix``."""
    if values.dtype == object:
        return [f"{value}{suffix}" for value in values.tolist()]
    return _by_value(values, lambda distinct: [f"{v}{suffix}" for v in distinct.tolist()])


def _float_bytes(sizes: npt.NDArray[np.int64]) -> Unsigned:
    """Each size as ``float(size)`` rounds it, as an integer (exact below 2**64)."""
    return sizes.astype(np.float64).astype(np.uint64)


def _exact_sizes(sizes: npt.NDArray[Any]) -> bool:
    """Whether the numpy formatting applies: int64 sizes, none negative."""
    return sizes.dtype == np.int64 and not (sizes < 0).any()


def tib_texts(sizes: npt.NDArray[Any], suffix: str) -> Texts:
    """``str(units.tib(size))`` of each size, then ``suffix``."""
    if not _exact_sizes(sizes):  # sums beyond int64 (Python ints)
        return [f"{tib(size)}{suffix}" for size in sizes.tolist()]
    return decimal_texts(rounded_fraction(_float_bytes(sizes), _TIB_SHIFT, 1000), 3, suffix)


def human_size_texts(sizes: npt.NDArray[Any], suffix: str) -> Texts:
    """``units.human_size(size)`` of each size, then ``suffix``."""
    if not _exact_sizes(sizes):
        return [human_size(size) + suffix for size in sizes.tolist()]
    shown = np.empty(len(sizes), dtype=object)
    small = sizes < 1024  # the integer itself
    shown[small] = integer_texts(sizes[small], suffix)
    left = np.flatnonzero(~small)
    values = _float_bytes(sizes[left])
    for power, unit in enumerate(_UNITS, start=1):
        # round(float(size) / 1024**power, 2), in hundredths: shown in the first unit
        # where that is under 1024, or in the last.
        hundredths = rounded_fraction(values, 10 * power, 100)
        done = (hundredths < 1024 * 100) | (unit == _UNITS[-1])
        shown[left[done]] = decimal_texts(hundredths[done], 2, f" {unit}{suffix}")
        left, values = left[~done], values[~done]
    return list(shown.tolist())


def days_texts(newest: npt.NDArray[np.int64], reference: float, suffix: str) -> Texts:
    """The Last Modified column: ``days_since(reference, mtime)`` of each newest mtime
    (``NO_MTIME``: none, ``-``) as ``tsv_line`` prints it, then ``suffix``."""
    shown = np.empty(len(newest), dtype=object)
    days, fast = _float_days(newest, reference)
    shown[fast] = _tenths_texts(days[fast], suffix)
    shown[~fast] = [
        (NULL if when == NO_MTIME else str(days_since(reference, when))) + suffix
        for when in newest[~fast].tolist()
    ]
    return list(shown.tolist())


def _float_days(
    newest: npt.NDArray[np.int64], reference: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """``(reference - newest) / 86400`` as Python computes it, and where that float64
    is formatted with numpy (an mtime, a value small enough, and the same arithmetic:
    not for an integer reference far from the mtimes)."""
    seen = newest != NO_MTIME
    if isinstance(reference, float):
        # float - int: the int rounded to float64 first, as numpy's cast does.
        days = (reference - newest.astype(np.float64)) / 86400
    elif abs(reference) < _FLOAT_EXACT_BELOW and (np.abs(newest[seen]) < _FLOAT_EXACT_BELOW).all():
        # int - int is exact, then int / int rounds once: the same in float64 while
        # every difference is exact there.
        days = (np.int64(reference) - newest).astype(np.float64) / 86400
    else:
        return np.zeros(len(newest)), np.zeros(len(newest), dtype=bool)
    with np.errstate(invalid="ignore"):
        return days, seen & (np.abs(days) < _DAYS_EXACT_BELOW)


def _tenths_texts(days: npt.NDArray[np.float64], suffix: str) -> Texts:
    """``str(round(day, 1))`` of each (finite, below 2**47 in size): the float's exact
    value is ``mantissa * 2**exponent``, ten times which is rounded half to even."""
    fraction, exponent = np.frexp(np.abs(days))
    mantissa = (fraction * 2.0**53).astype(np.uint64)  # exact: 53 bits
    # 2**-(shift) per unit of the mantissa; at least 6 below 2**47, and from 62 on the
    # tenths are 0 whatever the shift, as 10 * mantissa is below 2**57.
    shift = np.minimum(53 - exponent, 62).astype(np.uint64)
    scaled = mantissa * np.uint64(10)
    mask = (np.uint64(1) << shift) - np.uint64(1)
    whole, left = scaled >> shift, scaled & mask
    half = np.uint64(1) << (shift - np.uint64(1))
    up = (left > half) | ((left == half) & ((whole & np.uint64(1)) == 1))
    texts = decimal_texts(whole + up.astype(np.uint64), 1, suffix)
    signs = np.flatnonzero(np.signbit(days))  # -0.0 too, as str shows it
    for at in signs.tolist():
        texts[at] = "-" + texts[at]
    return texts


def _escaped(paths: Sequence[bytes]) -> bytes | None:
    """The paths joined by NULs, with ``display_name``'s escapes (tab, newline and
    backslash), or None when a path holds a NUL itself.

    As those are single ASCII bytes, escaping them before decoding, and decoding the
    whole, give each path's own ``display_name`` between the NULs."""
    joined = b"\0".join(paths)
    if joined.count(b"\0") != len(paths) - 1:
        return None
    return joined.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")


def _decoded(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


def display_names(paths: Sequence[bytes], suffix: str) -> Texts:
    """``display_name`` of every path, then ``suffix``, decoded all at once."""
    escaped = _escaped(paths) if paths else None
    if escaped is None:
        return [display_name(path) + suffix for path in paths]
    return (_decoded(escaped) + suffix).replace("\0", suffix + "\0").split("\0")


def project_and_directory(paths: Sequence[bytes], suffix: str) -> Texts:
    """Each path's Project and Directory columns, a tab between them, then ``suffix``:
    the second "/" of a short path is the column break, and with none, or nothing
    after it, the Directory is *TOTAL*. Made on the escaped bytes (no escape adds a
    "/"), decoded all at once."""
    escaped = _escaped(paths) if paths else None
    if escaped is None:
        return [_project_and_directory(display_name(path)) + suffix for path in paths]
    data = np.frombuffer(escaped, dtype=np.uint8)
    stops = np.append(np.flatnonzero(data == 0), len(data))  # where each path ends
    slashes = np.flatnonzero(data == ord("/"))
    path_of = np.searchsorted(stops, slashes)  # the path of each "/"
    first = np.searchsorted(path_of, np.arange(len(paths)))  # each path's first "/"
    broken = np.bincount(path_of, minlength=len(paths)) >= 2  # those with a second
    breaks = slashes[first[broken] + 1]
    cells = data.copy()
    cells[breaks] = ord("\t")
    # *TOTAL* after each path with nothing after its break (a tab first if it has none)
    named = np.zeros(len(paths), dtype=bool)
    named[broken] = breaks + 1 < stops[broken]
    totals = np.flatnonzero(~named)
    tail = np.frombuffer(f"\t{TOTAL_DIRECTORY}".encode(), dtype=np.uint8)
    inserted = np.tile(tail, len(totals))
    keep = np.ones(len(inserted), dtype=bool)
    keep[np.flatnonzero(broken[totals]) * len(tail)] = False
    at = np.repeat(stops[totals], len(tail))[keep]
    text = _decoded(np.insert(cells, at, inserted[keep]).tobytes())
    return (text + suffix).replace("\0", suffix + "\0").split("\0")


def _project_and_directory(name: str) -> str:
    """``project_and_directory`` of one display name."""
    parts = name.split("/", 2)
    if len(parts) == 3 and parts[2]:
        return f"{parts[0]}/{parts[1]}\t{parts[2]}"
    return "/".join(parts[:2]) + "\t" + TOTAL_DIRECTORY


def group_names(
    gids: Unsigned, has_gid: npt.NDArray[np.bool_], directory: GroupDirectory | None
) -> Texts:
    """The PI and Unix Group columns, a tab between them and after, each gid looked up
    once."""
    none = f"{NULL}\t{NULL}\t"
    if directory is None or not has_gid.any():
        return [none] * len(gids)
    distinct, inverse = np.unique(gids, return_inverse=True)
    texts = []
    for gid in distinct.tolist():
        group = directory.lookup(gid)
        pi, name = (NULL if text is None else text for text in (group.pi, group.name))
        texts.append(f"{pi}\t{name}\t")
    which = np.where(has_gid, inverse.reshape(-1), len(texts))
    return np.array([*texts, none], dtype=object)[which].tolist()


def class_columns(rows: InspectorRows, names: Sequence[str]) -> list[npt.NDArray[Any]]:
    """Total's bytes, then those of each named class (zeros for a class not configured)."""
    column_of = {name: at for at, name in enumerate(rows.class_names, start=1)}  # last wins
    none = np.zeros(len(rows), dtype=rows.sizes.dtype)
    classes = (rows.sizes[:, column_of[name]] if name in column_of else none for name in names)
    return [rows.sizes[:, 0], *classes]


def _lines(columns: Sequence[Texts]) -> str:
    """The rows' lines from their cells, each cell already followed by its tab or
    newline: the cells in row order, joined at once."""
    width = len(columns)
    cells: list[str] = [""] * (width * len(columns[0]))
    for at, column in enumerate(columns):
        cells[at::width] = column
    return "".join(cells)


# Rows printed at a time: a piece's texts exist at once, never a whole volume's.
ROWS_AT_ONCE = 1 << 12


def _pieces(count: int) -> Iterator[slice]:
    return (
        slice(start, min(count, start + ROWS_AT_ONCE)) for start in range(0, count, ROWS_AT_ONCE)
    )


def project_lines(
    rows: InspectorRows, volume: str, directory: GroupDirectory | None, classes: Sequence[str]
) -> Iterator[str]:
    """The project layout's lines of one volume (``TableRow.project_values``), a piece
    of rows at a time."""
    for piece in _pieces(len(rows)):
        sizes = [tib_texts(column[piece], "\t") for column in class_columns(rows, classes)]
        columns = (
            project_and_directory(rows.paths[piece], "\t"),
            *sizes,
            integer_texts(rows.files[piece], "\t"),
            days_texts(rows.newest[piece], rows.reference, "\t"),
            group_names(rows.gids[piece], rows.has_gid[piece], directory),
            [f"{volume}\t"] * len(sizes[0]),
            tib_texts(rows.sizes[rows.project[piece], 0], "\n"),  # the Project Total
        )
        yield _lines(columns)


def generic_lines(rows: InspectorRows, classes: Sequence[str]) -> Iterator[str]:
    """The generic layout's lines of one volume (``TableRow.generic_values``), a piece
    of rows at a time."""
    for piece in _pieces(len(rows)):
        sizes = [column[piece] for column in class_columns(rows, classes)]
        columns = (
            display_names(rows.paths[piece], "\t"),
            *(human_size_texts(column, "\t") for column in sizes),
            integer_texts(rows.files[piece], "\t"),
            days_texts(rows.newest[piece], rows.reference, "\t"),
            integer_texts(sizes[0], "\n"),
        )
        yield _lines(columns)
