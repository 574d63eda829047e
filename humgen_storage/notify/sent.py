"""What ``notify`` sent: ``report_dir/notify/sent-YYYYMMDD.tsv``, one line per mail
(date, recipient, time sent), keyed by date and recipient, so a second run on the
same day sends nothing. The file is rewritten whole after each mail (atomically), so
a run that dies between two mails has recorded every mail it sent."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from humgen_storage.run.atomic import atomic_file
from humgen_storage.run.layout import day_stamp
from humgen_storage.tsv import tsv_line


def sent_file(report_dir: Path, day: dt.date) -> Path:
    return report_dir / "notify" / f"sent-{day_stamp(day)}.tsv"


class SentRecord:
    def __init__(self, report_dir: Path, day: dt.date) -> None:
        self.report_dir = report_dir
        self.day = day
        self.path = sent_file(report_dir, day)
        self.lines: list[str] = []
        self.recipients: set[str] = set()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                fields = line.split("\t")
                if len(fields) >= 2 and fields[0] == day.isoformat():
                    self.lines.append(line)
                    self.recipients.add(fields[1])

    def add(self, recipient: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.lines.append(tsv_line((self.day.isoformat(), recipient, stamp)).rstrip("\n"))
        self.recipients.add(recipient)
        with atomic_file(self.path, base=self.report_dir) as handle:
            handle.write("".join(line + "\n" for line in self.lines))
