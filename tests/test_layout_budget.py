"""The layout's size budget: no module of the package over ``MAX_MODULE_LINES`` lines.

ruff holds the budget of a function (pyproject.toml: C901, PLR0912, PLR0913,
PLR0915); this holds a module's. A module past it holds more than one idea: split it
along them (as inspect/command.py and inspect/job.py, or run/aggregate.py and
run/blocks.py), do not raise the number.
"""

from __future__ import annotations

from pathlib import Path

import humgen_storage

MAX_MODULE_LINES = 400
PACKAGE = Path(humgen_storage.__file__).parent


def module_lines() -> dict[str, int]:
    return {
        str(path.relative_to(PACKAGE.parent)): len(path.read_bytes().splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_the_package_is_where_the_budget_looks() -> None:
    sizes = module_lines()
    assert "humgen_storage/cli.py" in sizes
    assert len(sizes) > 40


def test_no_module_is_over_the_line_budget() -> None:
    over = {name: lines for name, lines in module_lines().items() if lines > MAX_MODULE_LINES}
    assert not over, "\n".join(
        [f"modules over {MAX_MODULE_LINES} lines (split each along its ideas):"]
        + [f"  {name}: {lines} lines" for name, lines in sorted(over.items())]
    )
