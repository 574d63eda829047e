"""The ``inspector_history`` table's statements, which db.py's schema includes (kept
here so the table is read beside what writes it: history.py)."""

from __future__ import annotations

# The inspector's rows of every night, in exact bytes (spaceman and the TSV hold TiB to
# three decimals, and only the latest night).
_COLUMNS = """
    `date` DATE NOT NULL,
    `Volume` {short} NOT NULL,
    `Project` {text} NOT NULL,
    `Directory` {directory} NOT NULL,
    `Total (bytes)` BIGINT NOT NULL,
    `Files` BIGINT NOT NULL,
    `Unix Group` {text}
"""

# The key is 3071 bytes at 4 a character: spaceman's 3068 and a DATE's 3.
MYSQL_INSPECTOR_HISTORY = (
    "CREATE TABLE IF NOT EXISTS `inspector_history` ("
    + _COLUMNS.format(text="VARCHAR(255)", directory="VARCHAR(480)", short="VARCHAR(32)")
    + ", UNIQUE KEY `volume_project_directory_date` (`Volume`, `Project`, `Directory`, `date`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
)
SQLITE_INSPECTOR_HISTORY = (
    "CREATE TABLE IF NOT EXISTS `inspector_history` ("
    + _COLUMNS.format(text="TEXT", directory="TEXT", short="TEXT")
    + ", UNIQUE (`Volume`, `Project`, `Directory`, `date`))"
)
