"""Typed reading of one INI file: values, checks, and errors naming file, section and key."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import TypeVar

from humgen_storage.errors import ConfigError
from humgen_storage.mpistat.files import VOLUME_RE

Num = TypeVar("Num", int, float)


class SectionReader:
    """Typed access to one INI file, with errors that name file, section and key.

    Every getter takes the default from the dataclass field it fills, so that each
    default is written once, on its dataclass.
    """

    def __init__(self, parser: configparser.ConfigParser, source: Path) -> None:
        self.parser = parser
        self.source = source

    def error(self, section: str, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: [{section}] {key}: {message}")

    def raw(self, section: str, key: str) -> str | None:
        if not self.parser.has_option(section, key):
            return None
        value = self.parser.get(section, key).strip()
        return value or None

    def text(self, section: str, key: str, default: str | None = None) -> str:
        value = self.raw(section, key)
        if value is None:
            if default is None:
                raise self.error(section, key, "missing")
            return default
        return value

    def number(self, section: str, key: str, default: Num, minimum: Num) -> Num:
        """An int or a float, as ``default`` is one; at least ``minimum``."""
        value = self.raw(section, key)
        if value is None:
            return default
        kind = type(default)
        try:
            number = kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise self.error(section, key, f"not {what}: {value!r}") from None
        if number < minimum:
            raise self.error(section, key, f"must be at least {minimum}, got {number}")
        return number

    def flag(self, section: str, key: str, default: bool) -> bool:
        if self.raw(section, key) is None:
            return default
        try:
            return self.parser.getboolean(section, key)
        except ValueError as exc:
            raise self.error(section, key, str(exc)) from None

    def path(self, section: str, key: str) -> Path | None:
        value = self.raw(section, key)
        if value is None:
            return None
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.source.parent / path).resolve()

    def required_path(self, section: str, key: str) -> Path:
        path = self.path(section, key)
        if path is None:
            raise self.error(section, key, "missing")
        return path

    def volumes(self, section: str, key: str) -> tuple[str, ...]:
        value = self.raw(section, key)
        if value is None:
            return ()
        volumes = tuple(value.split())
        for volume in volumes:
            if not VOLUME_RE.match(volume):
                raise self.error(section, key, f"not a volume number: {volume!r}")
        return volumes

    def per_volume(self, section: str, skip: set[str]) -> dict[str, tuple[str, ...]]:
        if not self.parser.has_section(section):
            return {}
        result: dict[str, tuple[str, ...]] = {}
        for key in self.parser.options(section):
            if key in skip or key in self.parser.defaults():
                continue
            if not VOLUME_RE.match(key):
                raise self.error(section, key, "expected a volume number as the key")
            result[key] = tuple((self.raw(section, key) or "").split())
        return result


def resolve(path: str, base: Path) -> str:
    """A relative path in the file is relative to the file's directory."""
    return path if os.path.isabs(path) else str((base / path).resolve())


def resolve_command(command: str, base: Path) -> str:
    # A bare name ("lfs") is looked up on PATH; a relative path is relative to the file.
    words = command.split(maxsplit=1)
    if "/" in words[0]:
        words[0] = resolve(words[0], base)
    return " ".join(words)
