"""Typed reading of one INI file: values, checks, and errors naming file, section and key."""

from __future__ import annotations

import configparser
import difflib
import os
from pathlib import Path
from typing import TypeVar

from humgen_storage.errors import ConfigError
from humgen_storage.mpistat.files import VOLUME_RE

Num = TypeVar("Num", int, float)


class SectionReader:
    """Typed access to one INI file, with errors that name file, section and key.

    Every getter takes the default from the dataclass field it fills, so that each
    default is written once, on its dataclass. Every key asked for, present or not,
    is remembered: what the parse functions ask for is the list of known names, so a
    key added to a parse function is known without a second list to keep in step, and
    ``check_unknown`` refuses whatever else the file holds.
    """

    def __init__(self, parser: configparser.ConfigParser, source: Path) -> None:
        self.parser = parser
        self.source = source
        self.known: dict[str, set[str]] = {}  # section -> keys asked for
        self.open_sections: set[str] = set()  # sections whose keys are names or volumes

    def error(self, section: str, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: [{section}] {key}: {message}")

    def _asked(self, section: str, key: str) -> None:
        self.known.setdefault(section, set()).add(key)

    def section_keys(self, section: str) -> list[str]:
        """Every key of a section whose keys are free (volume numbers, class names)."""
        self.open_sections.add(section)
        self.known.setdefault(section, set())
        if not self.parser.has_section(section):
            return []
        return [key for key in self.parser.options(section) if key not in self.parser.defaults()]

    def check_unknown(self) -> None:
        """A section or key that no parse function asked for is an error (a misspelt
        ``[quotas]`` or ``timout`` would otherwise be ignored silently), naming the
        nearest known name."""
        for section in self.parser.sections():
            if section not in self.known:
                hint = _nearest(section, set(self.known))
                raise ConfigError(
                    f"{self.source}: [{section}] is not a section"
                    + (f"; did you mean [{hint}]?" if hint else "")
                )
            if section in self.open_sections:
                continue
            for key in self.parser.options(section):
                if key not in self.known[section] and key not in self.parser.defaults():
                    hint = _nearest(key, self.known[section])
                    raise self.error(
                        section,
                        key,
                        "not a key of this section" + (f"; did you mean {hint}?" if hint else ""),
                    )
        every_key = set().union(*self.known.values())
        for key in self.parser.defaults():
            if key not in every_key:
                hint = _nearest(key, every_key)
                raise self.error(
                    self.parser.default_section,
                    key,
                    "not a key of any section" + (f"; did you mean {hint}?" if hint else ""),
                )

    def raw(self, section: str, key: str) -> str | None:
        self._asked(section, key)
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
        """A section keyed by volume number (``[archive]``, ``[inspector]``); the keys
        of ``skip`` are the section's own settings, read by their own getters.

        A volume name may be any word, so a misspelt setting (``threshold_byte``) would
        pass for one: a key close to a setting's name must be a volume of some
        ``[volumes]`` list. (Other volumes are allowed: a site may keep the roots of a
        volume it has taken out of its lists.)
        """
        listed = {
            volume
            for key in ("report", "inspector", "splitter")
            for volume in (self.raw("volumes", key) or "").split()
        }
        result: dict[str, tuple[str, ...]] = {}
        for key in self.section_keys(section):
            if key in skip:
                continue
            hint = None if key in listed else _nearest(key, skip)
            if hint or not VOLUME_RE.match(key):
                raise self.error(
                    section,
                    key,
                    "not a volume number"
                    + (f" nor a key of this section; did you mean {hint}?" if hint else ""),
                )
            result[key] = tuple((self.raw(section, key) or "").split())
        return result


def _nearest(name: str, known: set[str]) -> str | None:
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def resolve(path: str, base: Path) -> str:
    """A relative path in the file is relative to the file's directory."""
    return path if os.path.isabs(path) else str((base / path).resolve())


def resolve_command(command: str, base: Path) -> str:
    # A bare name ("lfs") is looked up on PATH; a relative path is relative to the file.
    words = command.split(maxsplit=1)
    if "/" in words[0]:
        words[0] = resolve(words[0], base)
    return " ".join(words)
