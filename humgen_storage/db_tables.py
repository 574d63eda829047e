"""The schema of the tables the product derives from its own history (``forecast``).

Kept beside ``db.py``, which creates them with the others (``Database.create_schema``),
in the same SQL on both back ends: MySQL's text columns utf8mb4 with the binary
collation ``db.py`` puts in place of ``utf8mb4_bin``.
"""

from __future__ import annotations

_FORECAST_COLUMNS = """
    `date` DATE NOT NULL,
    `Lustre Volume` {text} NOT NULL,
    `Unix Group` {text} NOT NULL,
    `Measure` {short} NOT NULL,
    `Used` BIGINT NOT NULL,
    `Limit` BIGINT,
    `Growth (per day)` DOUBLE,
    `Days Until Full` DOUBLE,
    `Days Until Full (low)` DOUBLE,
    `Days Until Full (high)` DOUBLE,
    `Status` {short} NOT NULL,
    `Nights` INT NOT NULL
"""

MYSQL_DERIVED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `forecast` (`id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _FORECAST_COLUMNS.format(text="VARCHAR(255)", short="VARCHAR(32)")
    + ", UNIQUE KEY `date_volume_group_measure` (`date`, `Lustre Volume`, `Unix Group`, `Measure`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
)

SQLITE_DERIVED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `forecast` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _FORECAST_COLUMNS.format(text="TEXT", short="TEXT")
    + ", UNIQUE (`date`, `Lustre Volume`, `Unix Group`, `Measure`))",
)
