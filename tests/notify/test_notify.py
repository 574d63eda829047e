"""``notify`` against a real SMTP server on loopback (aiosmtpd): one mail per PI, none
on a second run, the right groups and numbers; the dry run; an SMTP outage."""

from __future__ import annotations

import email
import logging
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from humgen_storage.cli import main
from humgen_storage.config import NotifyConfig
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from humgen_storage.feeds import rows
from humgen_storage.notify.message import mails, notices
from humgen_storage.notify.sent import sent_file
from tests.feeds.data import DAY, database_url, fill
from tests.helpers import base_sections, write_ini


class Inbox:
    """What the server received: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    # The server logs from its own thread, also after the test's log capture is closed
    # ("I/O operation on closed file" at the end of the run): its log stays with it.
    server_log = logging.getLogger("mail.log")
    propagate = server_log.propagate
    server_log.propagate = False
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
        server_log.propagate = propagate


def site(tmp_path: Path, port: int, **notify: object) -> Path:
    fill(database_url(tmp_path))
    sections = base_sections(tmp_path, database_url(tmp_path))
    sections["notify"] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_timeout": 5,
        "sender": "storage@example.org",
        "recipient": "{pi}@example.org",
        "member_recipient": "{user}@example.org",
        **notify,
    }
    return write_ini(tmp_path / "c.ini", sections)


def text_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8").replace("\r\n", "\n")  # SMTP lines end in CRLF


def test_one_mail_per_pi_and_none_on_a_second_run(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    config = site(tmp_path, port)
    assert main(["--config", str(config), "notify", "--date", DAY.isoformat()]) == 0
    by_recipient = {tuple(to): message for to, message in inbox.received}
    # Jones's group is unlimited, so not listed: no mail.
    assert sorted(by_recipient) == [("Carol@example.org",), ("Smith@example.org",)]
    smith = text_of(by_recipient[("Smith@example.org",)])
    assert "hgi on scratch118\n" in smith
    assert (
        "  warning: bytes 10000000 bytes (9.54 MiB) used of 20000000 bytes (19.07 MiB)"
        " (50 %), full in about 20.5 days\n" in smith
    )
    assert "    alice: 6000000 bytes (5.72 MiB)\n    bob: 4000000 bytes (3.81 MiB)\n" in smith
    assert "    /lustre/scratch118/humgen/projects/p1: 3.5 TiB\n" in smith
    assert "    /lustre/scratch118/humgen/projects/p2: 1.25 TiB\n" in smith
    assert (
        "hgi on scratch115\n  full: bytes 1000000 bytes (976.56 KiB) used of 1000000 bytes"
        " (976.56 KiB) (100 %), full now\n" in smith
    )
    assert "/lustre/scratch115/humgen/projects/p3: 0.5 TiB" in smith
    assert "carol" not in smith and " ok:" not in smith  # the files forecast is ok
    carol = text_of(by_recipient[("Carol@example.org",)])
    assert "critical: bytes 5000 bytes (4.88 KiB) used of 6000 bytes (5.86 KiB) (83 %)" in carol
    assert "full in about 3 days" in carol
    html = next(
        p
        for p in by_recipient[("Smith@example.org",)].walk()
        if p.get_content_type() == "text/html"
    )
    assert "<td>hgi</td><td>scratch118</td>" in str(html.get_payload(decode=True), "utf-8")

    record = sent_file(tmp_path / "reports", DAY).read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in record) == [
        "Carol@example.org",
        "Smith@example.org",
    ]
    assert main(["--config", str(config), "notify", "--date", DAY.isoformat()]) == 0
    assert len(inbox.received) == 2


def test_the_newest_forecast_date_is_the_default(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    assert main(["--config", str(site(tmp_path, port)), "notify"]) == 0
    assert len(inbox.received) == 2  # the day before has only "ok"
    assert sent_file(tmp_path / "reports", DAY).exists()


def test_a_dry_run_prints_and_neither_sends_nor_records(
    tmp_path: Path, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, port = smtp
    config = site(tmp_path, port)
    assert main(["--config", str(config), "notify", "--date", DAY.isoformat(), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("To: ") == 2
    assert "Smith@example.org" in out and "Carol@example.org" in out
    assert inbox.received == []
    assert not sent_file(tmp_path / "reports", DAY).exists()


def test_an_smtp_server_that_is_down_degrades_and_a_later_run_sends(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    down = site(tmp_path, free_port())
    assert main(["--config", str(down), "notify", "--date", DAY.isoformat()]) == 3
    assert not sent_file(tmp_path / "reports", DAY).exists()
    up = write_ini(
        tmp_path / "up.ini",
        {
            **base_sections(tmp_path, database_url(tmp_path)),
            "notify": {"smtp_host": "127.0.0.1", "smtp_port": port, "recipient": "{pi}@x.org"},
        },
    )
    assert main(["--config", str(up), "notify", "--date", DAY.isoformat()]) == 0
    assert len(inbox.received) == 2


def test_members_over_a_share_get_one_mail_and_opt_outs_none(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    fill(url)
    settings = NotifyConfig(
        recipient="{pi}@example.org",
        member_recipient="{user}@example.org",
        member_share=0.5,
        opt_out=frozenset({"Carol"}),
    )
    config = load_config(str(write_ini(tmp_path / "c.ini", base_sections(tmp_path, url))))
    with open_database(config.database) as db:
        found = notices(
            rows.group_usage(db, DAY),
            rows.forecasts(db, DAY),
            rows.member_usage(db, DAY),
            rows.largest_directories(db),
            settings,
        )
    planned = {
        m.recipient: [(g.usage.volume, g.usage.group) for g in m.groups]
        for m in mails(found, settings)
    }
    # alice holds 60 % of hgi on scratch118 and all of it on scratch115: one mail for
    # both; bob (40 %) none; the PI Carol opted out, her member carol (100 %) did not.
    assert planned == {
        "Smith@example.org": [("scratch115", "hgi"), ("scratch118", "hgi")],
        "alice@example.org": [("scratch115", "hgi"), ("scratch118", "hgi")],
        "carol@example.org": [("scratch118", "carol")],
    }
