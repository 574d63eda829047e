"""File classes: a file's name to its configured class (BAM, CRAM, ...)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence


class FileClassifier:
    """A file name -> the index of its class in configured order (first match wins)."""

    def __init__(self, file_classes: Sequence[tuple[str, str]]) -> None:
        sources = [pattern for _, pattern in file_classes]
        self._searches = [
            (index, re.compile(source.encode()).search) for index, source in enumerate(sources)
        ]
        # Most names match no class: one combined search rules them out in one go. It
        # is left out when a pattern holds a back-reference, which grouping would
        # renumber, or cannot be grouped (a leading global flag such as "(?i)").
        self.may_match: Callable[[bytes], object] | None = None
        if sources and not any(re.search(r"\\[1-9]|\(\?P=", source) for source in sources):
            combined = "|".join(f"(?:{source})" for source in sources)
            try:
                self.may_match = re.compile(combined.encode()).search
            except re.error:
                self.may_match = None

    def position(self, name: bytes) -> int | None:
        for position, search in self._searches:
            if search(name) is not None:
                return position
        return None
