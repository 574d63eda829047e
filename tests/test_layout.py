"""The tests' layout (issue 14): a test folder beside every package, no test module
importing another, and shared set-up in modules that hold no tests.

A test module imported by another is a library whose tests hide what is shared; what
tests share lives in conftest.py fixtures or in support modules (helpers.py, sites.py,
trees.py) that define no tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

TESTS = REPO / "tests"
PACKAGE = REPO / "humgen_storage"


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def package_of(path: Path) -> str:
    """The dotted package a file under the repository belongs to."""
    return ".".join(path.relative_to(REPO).parent.parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module ``source`` (a file of ``package``) imports, relative imports resolved.
    For ``from a import b`` both ``a`` and ``a.b``: ``b`` may be a module."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            modules.add(module)
            modules.update(f"{module}.{alias.name}" for alias in node.names)
    return modules


def is_test_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "tests" and any(part.startswith("test_") for part in parts[1:])


def test_the_import_scan_sees_every_form() -> None:
    source = (
        "import tests.split.test_job\n"
        "from tests.split import test_upload, sites\n"
        "from .test_parallel import x\n"
        "from ..inspect.trees import d\n"
        "from tests.helpers import REPO\n"
    )
    modules = imported_modules(source, "tests.split")
    assert sorted(m for m in modules if is_test_module(m)) == [
        "tests.split.test_job",
        "tests.split.test_parallel",
        "tests.split.test_parallel.x",
        "tests.split.test_upload",
    ]
    assert {"tests.split.sites", "tests.inspect.trees", "tests.helpers"} <= modules


def test_no_test_module_imports_another() -> None:
    offenders = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in python_files(TESTS)
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"), package_of(path)))
        if is_test_module(module)
    ]
    assert offenders == []


def test_support_modules_hold_no_tests() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {node.name}"
        for path in python_files(TESTS)
        if not path.name.startswith("test_")
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name.lower().startswith("test")
    ]
    assert offenders == []


def test_every_package_has_a_test_folder() -> None:
    packages = [
        folder.name
        for folder in sorted(PACKAGE.iterdir())
        if (folder / "__init__.py").is_file()
        and any(path.name != "__init__.py" for path in folder.glob("*.py"))
    ]
    assert packages  # the scan found the packages at all
    missing = [
        package
        for package in packages
        if not (TESTS / package / "__init__.py").is_file()
        or not list((TESTS / package).glob("test_*.py"))
    ]
    assert missing == []


def test_every_test_folder_is_a_package() -> None:
    # Test files share base names across folders (tests/split/test_job.py,
    # tests/report/test_job.py); pytest tells them apart only inside packages.
    folders = {path.parent for path in TESTS.rglob("test_*.py")} | {TESTS}
    missing = [
        str(f.relative_to(REPO)) for f in sorted(folders) if not (f / "__init__.py").is_file()
    ]
    assert missing == []
