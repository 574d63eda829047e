"""Mail PIs whose groups' quota is full or filling, at most once a day (the forecast).

``notify [--date D] [--dry-run]``: the groups whose forecast of D (default: the newest
date of the ``forecast`` table) has a status in ``[notify] statuses`` are mailed to
their PI (``[notify] recipient``), and with ``member_share`` to each member using that
share of a group. A mail already recorded as sent for D and its recipient is not sent
again; ``--dry-run`` prints the mails and sends and records nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import smtplib
import sys
from email.message import EmailMessage

from humgen_storage.config import Config, NotifyConfig
from humgen_storage.db import Database, open_database
from humgen_storage.feeds import rows
from humgen_storage.notify.message import email_message, mails, notices
from humgen_storage.notify.sent import SentRecord
from humgen_storage.run.driver import run_locked
from humgen_storage.run.record import current

log = logging.getLogger(__name__)

JOB = "notify"
_NEWEST = "SELECT MAX(`date`) FROM `forecast`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--date", type=dt.date.fromisoformat, help="the forecast's date (default: the newest)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the mails; send and record nothing"
    )


def _day(db: Database, day: dt.date | None) -> dt.date | None:
    if day is not None:
        return day
    ((newest,),) = db.query(_NEWEST)
    if newest is None:
        return None
    return newest if isinstance(newest, dt.date) else dt.date.fromisoformat(str(newest))


def messages(config: Config, db: Database, day: dt.date) -> list[EmailMessage]:
    """The day's mails, before any is left out as already sent."""
    settings = config.notify
    group_notices = notices(
        rows.group_usage(db, day),
        rows.forecasts(db, day),
        rows.member_usage(db, day),
        rows.largest_directories(db),
        settings,
    )
    return [
        email_message(m, day.isoformat(), settings.sender) for m in mails(group_notices, settings)
    ]


def run(args: argparse.Namespace, config: Config) -> int:
    if args.dry_run:
        current().dry_run = True
    with open_database(config.database, base_dir=config.source.parent) as db:
        day = _day(db, args.date)
        if day is None:
            log.info("notify: the forecast table is empty; nothing to do")
            current().nothing_to_do = True
            return 0
        current().date = day.isoformat()
        planned = messages(config, db, day)
    if args.dry_run:
        unsent = _unsent(SentRecord(config.paths.report_dir, day), planned)
        for message in unsent:
            sys.stdout.write(message.as_string() + "\n")
        log.info("notify: %d mail(s) to send for %s (dry run: none sent)", len(unsent), day)
        return 0
    return run_locked(config, JOB, lambda: send_unsent(config, day, planned))


def _unsent(sent: SentRecord, planned: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in planned if str(m["To"]) not in sent.recipients]


def send_unsent(config: Config, day: dt.date, planned: list[EmailMessage]) -> int:
    """Send the mails not yet recorded for ``day``, recording each as it goes."""
    sent = SentRecord(config.paths.report_dir, day)
    unsent = _unsent(sent, planned)
    if not unsent:
        log.info("notify: nothing to send for %s (%d already sent)", day, len(planned))
        current().nothing_to_do = True
        return 0
    done = 0
    try:
        with _connect(config.notify) as smtp:
            for message in unsent:
                smtp.send_message(message)
                sent.add(str(message["To"]))
                done += 1
                log.info("notify: mailed %s", message["To"])
    except (OSError, smtplib.SMTPException) as exc:
        settings = config.notify
        log.error("notify: SMTP server %s:%d: %s", settings.smtp_host, settings.smtp_port, exc)
        current().degrade(f"notify: {len(unsent) - done} mail(s) for {day} not sent: {exc}")
    log.info("notify: %d mail(s) sent for %s", done, day)
    return 0


def _connect(settings: NotifyConfig) -> smtplib.SMTP:
    """A connection whose every call gives up after ``smtp_timeout`` seconds."""
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    if settings.starttls:
        try:
            smtp.starttls()
        except BaseException:
            smtp.close()
            raise
    return smtp
