"""Control characters from mail never reach a terminal, a header we write, or an SMTP reply."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.inbound.smtp import ACCEPTED, reply_safe
from adapters.outbound.mime_out import to_mime
from orchestrator import cli, cli_threads
from orchestrator.cli_output import visible
from orchestrator.logs import escape_controls
from orchestrator.settings import Settings
from tests.conftest import ROOT
from use_cases.mail import OutboundEmail
from use_cases.models import ThreadState, ThreadStatus, Triage

# What a hostile sender puts in a subject: clear the screen, retitle the terminal (OSC),
# a NUL, a C1 CSI, a right-to-left override, and a line break that would start a header.
HOSTILE = "Invoice\x1b[2J\x1b]0;pwned\x07\x00\x9b31m\u202eFDP.exe\r\nBcc: victim@example.com"
C0_C1 = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]


def no_controls(text: str, *, bidi: bool = True) -> bool:
    """No C0/C1 control (newline aside), and with `bidi` no right-to-left override (a
    terminal concern; in a header it is text of a right-to-left language)."""
    unsafe = C0_C1 + (["\u202e"] if bidi else [])
    return not any(c in text for c in unsafe if c != "\n")


def test_visible_escapes_each_control_and_keeps_other_text() -> None:
    shown = visible(HOSTILE + " café \ud800")
    assert no_controls(shown) and "\n" not in shown
    assert "\\x1b[2J" in shown and "\\x00" in shown and "\\x9b" in shown
    assert "\\u202e" in shown and "\\x0d\\x0a" in shown and "\\ud800" in shown
    assert "Invoice" in shown and "café" in shown
    assert visible("Re: Printer on fire") == "Re: Printer on fire"


def outgoing(**fields: Any) -> OutboundEmail:
    mail: dict[str, Any] = {
        "message_id": "<ack-1@mailroom.local>",
        "from_addr": "support@mailroom.local",
        "to": ("alice@example.com",),
        "subject": "Re: hi",
        "text": "We got it.",
    }
    return OutboundEmail(**{**mail, **fields})


def test_every_header_we_write_is_one_line_without_controls() -> None:
    mail = outgoing(
        subject=f"Re: {HOSTILE}",
        in_reply_to="<q1@example.com>\r\nX-Injected: 1",
        references=("<root@example.com>\x1b[0m",),
        headers={"X-Mailroom-Flow": "support\x00\x85"},
    )
    raw = to_mime(mail, sent_at=datetime.now(UTC)).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None, "no header was injected"
    for name, value in parsed.items():
        assert no_controls(str(value).replace("\n", ""), bidi=False), (name, str(value))
    header_block = raw.split(b"\n\n", 1)[0]
    assert not any(b in header_block for b in (b"\x1b", b"\x00", b"\x07"))
    assert "Invoice" in str(parsed["Subject"]) and "FDP.exe" in str(parsed["Subject"])


# Every character str.splitlines breaks a line at: policy.default refuses each in a header.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.mark.parametrize("brk", list(LINE_BREAKS), ids=lambda c: f"U+{ord(c):04X}")
def test_a_line_break_of_any_kind_in_a_subject_is_written_as_a_space(brk: str) -> None:
    mail = outgoing(subject=f"Re: a{brk}b", headers={"X-Mailroom-Priority": f"high{brk}x"})
    parsed = message_from_bytes(to_mime(mail, sent_at=datetime.now(UTC)).as_bytes())
    assert str(parsed["Subject"]) == "Re: a b"
    assert str(parsed["X-Mailroom-Priority"]) == "high x"


@pytest.mark.parametrize("name", ["Bcc\n", "X Flow", "X:Flow", "X-Fl\u00f6w", "", "X-\u2028"])
def test_a_header_whose_name_is_no_field_name_is_left_out(name: str) -> None:
    mail = outgoing(headers={name: "victim@example.com", "X-Mailroom-Flow": "support"})
    raw = to_mime(mail, sent_at=datetime.now(UTC)).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and b"victim@example.com" not in raw
    assert parsed["X-Mailroom-Flow"] == "support"


@pytest.mark.parametrize(
    ("answer", "priority"),
    [("high", "high"), (" HIGH\n", "high"), ("normal", "normal"), ("urgent\u2028Bcc: x", "normal")],
)
def test_the_agents_priority_in_a_subject_is_high_or_normal(answer: str, priority: str) -> None:
    assert Triage(category="billing", priority=answer).priority == priority


def test_the_accepted_reply_shows_a_message_id_without_controls() -> None:
    line = ACCEPTED.format(message_id=reply_safe("<a\x1b[2J\r\n250 fake\x00@évil.example>"))
    assert line.isascii() and line.isprintable() and " fake" not in line
    assert line.startswith("250 2.0.0 OK: queued as <a?[2J??250?fake?@")
    assert len(reply_safe("<" + "x" * 5000 + "@example.com>")) <= 200


def test_mailroom_threads_escapes_a_hostile_subject(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = ThreadState(
        thread_id="t\x1b]0;x\x07",
        workflow_id="thread-support-1",
        mailbox="support@mailroom.local",
        status=ThreadStatus.OPEN,
        subject=HOSTILE,
        participants=["eve\x1b]0;x\x07@example.com"],
    )

    class Listing:
        async def list(self, status: ThreadStatus | None) -> list[ThreadState]:
            return [hostile]

    async def listing(settings: object) -> Listing:
        return Listing()

    monkeypatch.setattr(cli_threads, "connected_gateway", listing)
    listed = cli_threads.cmd_threads(Settings(), cli.build_parser().parse_args(["threads"]))
    assert listed == 0
    out = capsys.readouterr().out
    assert no_controls(out) and out.count("\n") == 2  # the header and the thread
    assert "Invoice\\x1b[2J" in out and "eve\\x1b]0;x\\x07@" in out


def test_mailroom_outbox_escapes_a_hostile_subject(tmp_path: Path) -> None:
    """A subject that decodes to control characters (an encoded-word) in the outbox."""
    new = tmp_path / "data" / "outbox" / "new"
    new.mkdir(parents=True)
    (new / "1.eml").write_bytes(
        b"Message-ID: <m1@mailroom.local>\r\nTo: a@example.com\r\n"
        b"Subject: =?utf-8?q?Hi=1B=5D0=3Bpwned=07=00?=\r\n"
        b"X-Mailroom-Sent-At: 2026-01-01T00:00:00+00:00\r\n\r\nbody\r\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env["MAILROOM_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "outbox"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "Hi\\x1b]0;pwned\\x07\\x00" in result.stdout
    assert no_controls(result.stdout)


def test_log_lines_on_a_terminal_escape_controls() -> None:
    """The console renderer (a TTY) writes values raw; JSON escapes them itself."""
    event = escape_controls(None, "info", {"event": "email_accepted", "subject": HOSTILE, "n": 1})
    assert no_controls(str(event["subject"])) and event["n"] == 1


def test_an_error_line_never_shows_a_secret_of_the_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The last guard: whatever an exception's text holds, the settings' secrets are masked."""
    password, token = "imap-pa/ss", "sk-agent-secret"
    settings = Settings(
        mailboxes=["support@mailroom.local"],
        imap_sources=[f"imaps://u:{quote(password, safe='')}@h/?mailbox=support@mailroom.local"],
        agent_url=f"https://llm.example/v1?key={token}",
        agent_model="m",
        agent_api_key="agent-api-key",
        reply_token_secret="s" * 40,
    )
    leaky = f"login failed for {password} at ?key={token} with agent-api-key and {'s' * 40}"
    assert cli.failed(leaky + "\nsecond line\x1b[2J", settings) == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and said.startswith("mailroom: login failed for ********")
    for secret in (password, quote(password, safe=""), token, "agent-api-key", "s" * 40):
        assert secret not in said
    assert "\\x1b[2J" in said


# A command printing more than a pipe holds: the reader is gone before it ends.
LONG_OUTPUT = (
    "import sys; from orchestrator import cli\n"
    "def lines(settings, args):\n"
    "    for n in range(100_000):\n"
    "        print(f'line {n}')\n"
    "    return 0\n"
    "cli.COMMANDS['config'] = lines\n"
    "sys.argv = ['mailroom', 'config']\n"
    "cli.entry()\n"
)


@pytest.mark.parametrize(
    "program",
    [["-m", "orchestrator.cli", "config"], ["-c", LONG_OUTPUT]],
    ids=["buffered-output", "output-longer-than-the-pipe"],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(
    program: list[str], tmp_path: Path
) -> None:
    """`mailroom threads | head -3`: no error line, no traceback, exit 141 like `git log`."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left before the command wrote a line
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env["MAILROOM_DATA_DIR"] = str(tmp_path / "data")
    try:
        result = subprocess.run(
            [sys.executable, *program],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == cli.EXIT_BROKEN_PIPE
