"""What a recipient gets from us: flowed text and HTML from one pair of templates, the
thread's ticket reference in the subject, the mailbox's signature once."""

from __future__ import annotations

import fnmatch
import tomllib
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from adapters.outbound.mail_templates import PACKAGED_TEMPLATES, ReplyTemplates
from adapters.outbound.mime_out import to_mime
from orchestrator.bootstrap import reply_templates
from orchestrator.settings import Settings
from orchestrator.startup_checks import StartupError
from tests.conftest import ROOT
from tests.support import plain_text
from use_cases.mail import OutboundEmail
from use_cases.tickets import ticket_reference

THREAD = "thread-support@mailroom.local-2cf07daac1273b17"
REF = ticket_reference(THREAD)
AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
KB_ANSWER = (
    "Unplug the printer at once and keep away from it; if flames are visible, call the fire\n"
    "brigade. Do not use the printer again until a technician has checked it.\n\n"
    "If this solved it, reply 'solved'.\n"
)


def answer(**fields: Any) -> OutboundEmail:
    mail: dict[str, Any] = {
        "message_id": "<support-1-answer-abc@mailroom.local>",
        "from_addr": "support@mailroom.local",
        "to": ("alice@example.com",),
        "subject": "Re: Printer on fire",
        "text": KB_ANSWER,
        "thread_id": THREAD,
    }
    return OutboundEmail(**{**mail, **fields})


def sent(mail: OutboundEmail, templates: ReplyTemplates | None = None) -> EmailMessage:
    raw = to_mime(mail, sent_at=AT, templates=templates).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def test_a_reply_is_flowed_text_with_an_html_alternative_of_the_same_words() -> None:
    message = sent(answer())
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert text_part.get_param("format") == "flowed"
    assert html_part.get_content_type() == "text/html"
    text = plain_text(message)
    assert "call the fire brigade. Do not use" in text, "the mid-sentence break is joined"
    assert text.endswith(f"\n-- \nmailroom, support@mailroom.local\nTicket [#{REF}]\n")
    raw_lines = str(text_part.get_content()).splitlines()
    assert max(len(line) for line in raw_lines) <= 72
    assert "call the fire brigade. Do not use" in html_of(message)


def test_the_html_escapes_the_mail_text_and_links_only_web_addresses() -> None:
    text = (
        "Your note said <script>alert(1)</script> & more.\n"
        "See https://help.example.com/a?x=1&y=2. Or (https://help.example.com/b).\n"
        "Not a link: javascript:alert(1) nor xhttps://evil.example nor "
        'http://evil.example/"onmouseover="alert(1)\n'
    )
    html = html_of(sent(answer(text=text)))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert '<a href="https://help.example.com/a?x=1&amp;y=2" rel="noopener noreferrer">' in html
    assert '<a href="https://help.example.com/b" rel="noopener noreferrer">' in html
    assert '<a href="http://evil.example/" rel="noopener noreferrer">' in html
    assert html.count("<a ") == 3, "javascript: and a URL inside a word are no links"
    assert "onmouseover=" not in html.replace("&#34;onmouseover=&#34;", "")


def test_quoted_lines_become_blockquotes_and_paragraphs_become_p() -> None:
    text = "Alice wrote:\n> it burns\n> a lot\n\nWe are on it.\nReally.\n"
    html = html_of(sent(answer(text=text)))
    quote_at = html.index("<blockquote")
    assert html.index("Alice wrote:") < quote_at < html.index("it burns<br>a lot")
    assert html.index("</blockquote>") < html.index("We are on it.<br>Really.")
    assert html.count("<p ") == 4  # greeting line, the quote, the paragraph, the signature


def test_the_html_keeps_the_lines_of_commands_and_code_blocks() -> None:
    text = (
        "To reset, run:\nsudo systemctl stop cups\nsudo rm -rf /var/spool/cups/tmp\n\n"
        "```\nlpadmin -p office -E -v ipp://printer.example/ipp/print -m everywhere -o\n"
        "media=a4\n```\n"
    )
    html = html_of(sent(answer(text=text)))
    assert "sudo systemctl stop cups<br>sudo rm -rf /var/spool/cups/tmp" in html
    assert "-m everywhere -o<br>media=a4<br>```" in html


def test_the_subject_carries_the_thread_reference_once() -> None:
    assert sent(answer())["Subject"] == f"Re: Printer on fire [#{REF}]"
    again = answer(subject=f"Re: Printer on fire [#{REF.lower()}]")
    assert sent(again)["Subject"] == f"Re: Printer on fire [#{REF.lower()}]"
    assert sent(answer(subject=""))["Subject"] == f"[#{REF}]"


def test_the_reference_is_not_added_again_after_another_threads_reference() -> None:
    subject = f"Re: [#ABCDEF] Printer on fire [#{REF}]"
    assert sent(answer(subject=subject))["Subject"] == subject
    forwarded = sent(answer(subject="Fwd: [#ABCDEF] Printer on fire"))["Subject"]
    assert forwarded == f"Fwd: [#ABCDEF] Printer on fire [#{REF}]"


def test_mail_outside_a_thread_has_no_reference() -> None:
    message = sent(answer(thread_id=""))
    assert message["Subject"] == "Re: Printer on fire"
    assert "Ticket" not in plain_text(message) and "Ticket" not in html_of(message)


def test_a_hostile_subject_stays_one_line_with_its_reference() -> None:
    message = sent(answer(subject="Re: Invoice\x1b[2J\r\nBcc: victim@example.com"))
    assert message["Bcc"] is None
    assert str(message["Subject"]) == f"Re: Invoice [2J Bcc: victim@example.com [#{REF}]"


def test_each_mailbox_gets_its_signature_from_the_templates_dir(tmp_path: Path) -> None:
    (tmp_path / "signatures").mkdir()
    (tmp_path / "signatures" / "Support@mailroom.local.txt").write_text(
        "ACME Support\x07\r\nhttps://acme.example/help\n\n"
    )
    templates = ReplyTemplates(tmp_path)
    message = sent(answer(), templates)
    assert plain_text(message).endswith(
        f"\n-- \nACME Support\nhttps://acme.example/help\nTicket [#{REF}]\n"
    )
    assert '<a href="https://acme.example/help"' in html_of(message)
    other = sent(answer(from_addr="procurement@mailroom.local"), templates)
    assert "\n-- \nmailroom, procurement@mailroom.local\n" in plain_text(other)


@pytest.mark.parametrize("separator", ["-- ", "--", "-- \r"])
def test_a_signature_file_that_starts_with_a_separator_gives_one_separator(
    tmp_path: Path, separator: str
) -> None:
    (tmp_path / "signatures").mkdir()
    (tmp_path / "signatures" / "support@mailroom.local.txt").write_text(
        f"{separator}\n\nACME Support\n-- not a separator, a line of it\n"
    )
    message = sent(answer(), ReplyTemplates(tmp_path))
    text = plain_text(message)
    assert text.count("\n-- \n") == 1 and "\n--\n" not in text
    assert text.endswith(
        f"\n-- \nACME Support\n-- not a separator, a line of it\nTicket [#{REF}]\n"
    )
    assert html_of(message).count("-- <br>") == 1


def test_a_text_with_its_own_signature_gets_no_second_one(tmp_path: Path) -> None:
    (tmp_path / "signatures").mkdir()
    (tmp_path / "signatures" / "support@mailroom.local.txt").write_text("ACME Support\n")
    ack = "Hello Alice,\n\nwe opened a thread.\n\n-- \nmailroom, support@mailroom.local\n"
    message = sent(answer(text=ack), ReplyTemplates(tmp_path))
    text = plain_text(message)
    assert text.count("-- \n") == 1 and "ACME Support" not in text
    assert text.endswith(f"\n-- \nmailroom, support@mailroom.local\nTicket [#{REF}]\n")
    assert html_of(message).count("-- <br>") == 1


def test_an_operators_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "reply.txt.j2").write_text("{{ body }}\n{{ separator }}\nYours, {{ mailbox }}\n")
    message = sent(answer(text="Done."), ReplyTemplates(tmp_path))
    assert plain_text(message) == "Done.\n-- \nYours, support@mailroom.local\n"
    assert "Ticket [#" in html_of(message), "the shipped HTML template still applies"


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"reply.html.j2": "{% for %}"}, "MAILROOM_TEMPLATES_DIR: "),
        ({"signatures/support@mailroom.local.txt": b"\xff\xfe"}, "not UTF-8"),
        (None, "is not a directory"),
    ],
)
def test_templates_that_cannot_be_used_stop_start_up(
    tmp_path: Path, files: dict[str, str | bytes] | None, error: str
) -> None:
    directory = tmp_path / "templates"
    for name, content in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(StartupError, match=error) as raised:
        reply_templates(Settings(data_dir=tmp_path / "data", templates_dir=directory))
    assert str(raised.value).startswith("MAILROOM_TEMPLATES_DIR: ")


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("reply.txt.j2", "{{ body }}\n{{ separator }}\n{{ signture }}\n"),
        ("reply.html.j2", "<p>{{ body }}</p>{% if not reference %}{{ referense }}{% endif %}"),
        ("reply.txt.j2", "{{ body }}{% if signature == 'Bob' %}{{ own_signature }}{% endif %}"),
        ("reply.txt.j2", "{{ body }} {{ 1 / (mailbox == 'sales@example.com') }}"),
    ],
)
def test_a_template_that_fails_to_render_stops_start_up_naming_it(
    tmp_path: Path, name: str, template: str
) -> None:
    directory = tmp_path / "templates"
    (directory / "signatures").mkdir(parents=True)
    (directory / name).write_text(template)
    (directory / "signatures" / "sales@example.com.txt").write_text("Sales\n")
    with pytest.raises(StartupError) as raised:
        reply_templates(Settings(data_dir=tmp_path / "data", templates_dir=directory))
    assert str(raised.value).startswith("MAILROOM_TEMPLATES_DIR: ")
    assert f"{directory / name} does not render" in str(raised.value)


@pytest.mark.parametrize(
    "text", ["Größe € 20\n", "Größe € 20\n" + "Ein langer Absatz über den Drucker. " * 10]
)
def test_both_parts_are_quoted_printable_seven_bit_with_short_lines(text: str) -> None:
    raw = to_mime(answer(text=text), sent_at=AT).as_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    encodings = [part["Content-Transfer-Encoding"] for part in message.iter_parts()]
    assert encodings == ["quoted-printable", "quoted-printable"]
    assert raw.isascii() and max(len(line) for line in raw.split(b"\n")) <= 78
    assert "Größe € 20" in plain_text(message) and "Größe € 20" in html_of(message)


def test_control_characters_in_the_text_never_reach_either_part() -> None:
    text = "Code\x00 is\x1b[31m red\x7f\x85 now.\r\nNext\tline\x0c.\n\n-- \nBob\x07\n"
    raw = to_mime(answer(text=text), sent_at=AT).as_bytes()
    assert b"\x00" not in raw and b"=00" not in raw and b"=1B" not in raw
    message = sent(answer(text=text))
    for shown in (plain_text(message), html_of(message)):
        assert "Code is[31m red now." in shown and "Next\tline." in shown
        assert not any(c in shown for c in "\x00\x1b\x7f\x85\x0c\x07\r")
    assert plain_text(message).endswith("\n-- \nBob\nTicket [#" + REF + "]\n")


def test_a_retry_builds_the_same_mail_but_for_its_date() -> None:
    first = to_mime(answer(), sent_at=AT).as_bytes()
    retry = to_mime(answer(), sent_at=AT + timedelta(minutes=5)).as_bytes()

    def dateless(raw: bytes) -> list[bytes]:
        return [ln for ln in raw.split(b"\n") if not ln.startswith((b"Date:", b"X-Mailroom"))]

    assert dateless(first) == dateless(retry)


def test_the_templates_are_installed_with_the_package() -> None:
    with open(ROOT / "pyproject.toml", "rb") as source:
        package_data = tomllib.load(source)["tool"]["setuptools"]["package-data"]
    patterns = package_data["adapters.outbound"]
    shipped = [p.relative_to(PACKAGED_TEMPLATES.parent) for p in PACKAGED_TEMPLATES.iterdir()]
    assert shipped and all(
        any(fnmatch.fnmatch(str(path), pattern) for pattern in patterns) for path in shipped
    )
