"""Every test of the input format runs on the compiled kernel and on the numpy path."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _both_kernel_paths(kernel_path: str) -> str:
    return kernel_path
