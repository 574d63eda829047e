"""The tables beside ``lustre_usage`` and ``spaceman`` (issue 18), in the same SQL text
for both back ends as ``db.py``'s; ``db.py`` creates them with its own.

``usage_by_user``: per (date, volume, group, user) the bytes (hard links once per
volume), regular-file records and days since the newest mtime, as the report
aggregates them. ``usage_quota``: per (date, volume, group) the distinct inodes of the
crawl beside what the quota system itself counts (``lfs quota``: kbytes used x 1024,
files used, the file hard limit; NULL when the look-up failed or the group has no
name). Both are loaded in the report's transaction. The column names are a contract
(the forecast reads them): spaces and parentheses included.

MySQL: the unique keys fit InnoDB's 3072 bytes at 4 bytes a character: DATE (3) and
three VARCHAR(255) (1020 each) make 3063.

``forecast``: what the forecast derives from that history, per (date, volume, group,
measure).
"""

from __future__ import annotations

_USERS_COLUMNS = """
    `date` DATE NOT NULL,
    `Lustre Volume` {text} NOT NULL,
    `Unix Group` {text} NOT NULL,
    `User` {text} NOT NULL,
    `Used (bytes)` BIGINT NOT NULL,
    `Files` BIGINT NOT NULL,
    `Last Modified (days)` DECIMAL(12,1) NOT NULL
"""

_QUOTA_COLUMNS = """
    `date` DATE NOT NULL,
    `Lustre Volume` {text} NOT NULL,
    `Unix Group` {text} NOT NULL,
    `Files` BIGINT NOT NULL,
    `Quota Used (bytes)` BIGINT,
    `Quota Used (files)` BIGINT,
    `Inode Quota` BIGINT
"""

ACCOUNTING_MYSQL_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `usage_by_user` (`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _USERS_COLUMNS.format(text="VARCHAR(255)")
    + ", UNIQUE KEY `date_volume_group_user` (`date`, `Lustre Volume`, `Unix Group`, `User`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS `usage_quota` (`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _QUOTA_COLUMNS.format(text="VARCHAR(255)")
    + ", UNIQUE KEY `date_volume_group` (`date`, `Lustre Volume`, `Unix Group`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
)

ACCOUNTING_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `usage_by_user` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _USERS_COLUMNS.format(text="TEXT")
    + ", UNIQUE (`date`, `Lustre Volume`, `Unix Group`, `User`))",
    "CREATE TABLE IF NOT EXISTS `usage_quota` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _QUOTA_COLUMNS.format(text="TEXT")
    + ", UNIQUE (`date`, `Lustre Volume`, `Unix Group`))",
)

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
