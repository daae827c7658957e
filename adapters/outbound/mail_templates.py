"""The text and HTML of a mail we send, rendered from one pair of Jinja templates.

The templates ship in adapters/outbound/templates/; MAILROOM_TEMPLATES_DIR names a
directory searched first, so an operator overrides either one by writing a file of the
same name there, and gives a mailbox its signature in `signatures/<mailbox>.txt`
(default: "mailroom, <mailbox>"). A mail whose text already ends in a signature (after a
"-- " line: the acknowledgement's) keeps it and gets no second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from adapters.outbound import flowed
from adapters.outbound.html_body import blocks, linkify
from use_cases.mail import OutboundEmail
from use_cases.tickets import ticket_reference

PACKAGED_TEMPLATES = Path(__file__).with_name("templates")
TEXT_TEMPLATE = "reply.txt.j2"
HTML_TEMPLATE = "reply.html.j2"
SIGNATURES_DIR = "signatures"
SAMPLE_MAILBOX = "support@mailroom.invalid"  # for the check at start, of the default signature
# Mail text and an operator's signature file are text: their control characters (a NUL,
# an ESC, a stray CR once line ends are LF) go, but for tab and newline; a NUL would reach
# the recipient raw, and no reader shows the others.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RenderedMail:
    text: str  # format=flowed
    html: str


class ReplyTemplates:
    """Loaded once at start: a template that does not parse or does not render (an
    undefined variable: `StrictUndefined`), or a signature file that is not UTF-8, stops
    start-up instead of every send (TemplateError, ValueError, OSError)."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None and not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
        search = [directory, PACKAGED_TEMPLATES] if directory else [PACKAGED_TEMPLATES]
        env = Environment(
            loader=FileSystemLoader(search),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["linkify"] = linkify
        self.text: Template = env.get_template(TEXT_TEMPLATE)
        self.html: Template = env.get_template(HTML_TEMPLATE)
        self.signatures = load_signatures(directory / SIGNATURES_DIR) if directory else {}
        self.check()

    def check(self) -> None:
        """Render both templates for sample mails (in a thread or not, with their own
        signature or the mailbox's): an error is a ValueError naming the template."""
        for template in (self.text, self.html):
            for mail in sample_mails([*self.signatures, SAMPLE_MAILBOX]):
                try:
                    template.render(self.context(mail))
                except Exception as exc:  # a template may fail in any way: report it at start
                    name = template.filename or template.name
                    raise ValueError(f"{name} does not render: {exc}") from None

    def signature(self, mailbox: str) -> str:
        address = parseaddr(mailbox)[1].lower() or mailbox
        return self.signatures.get(address, f"mailroom, {address}")

    def render(self, mail: OutboundEmail) -> RenderedMail:
        context = self.context(mail)
        return RenderedMail(
            text=flowed.encode(self.text.render(context)), html=self.html.render(context)
        )

    def context(self, mail: OutboundEmail) -> dict[str, Any]:
        """The variables both templates get (listed at the top of reply.txt.j2)."""
        body, own_signature = split_signature(plain(mail.text))
        signature = self.signature(mail.from_addr) if own_signature is None else own_signature
        return {
            "body": body,
            "signature": signature,
            "separator": flowed.SIGNATURE_SEPARATOR,
            "reference": ticket_reference(mail.thread_id) if mail.thread_id else "",
            "mailbox": mail.from_addr,
            "subject": plain(mail.subject),
            "blocks": blocks(body),
            "signature_lines": signature.split("\n"),
        }


def sample_mails(mailboxes: list[str]) -> list[OutboundEmail]:
    """A mail of each kind a template must render: in a thread or outside one, with the
    mail's own signature or none (then the mailbox's), from each mailbox given."""
    return [
        OutboundEmail(
            message_id="<template-check@mailroom.invalid>",
            from_addr=mailbox,
            to=("someone@example.com",),
            subject="Re: Printer on fire",
            text=text,
            thread_id=thread_id,
        )
        for mailbox in mailboxes
        for thread_id in (f"thread-{mailbox}-0123456789abcdef", "")
        for text in ("Unplug it.\n> it burns", f"Received.\n\n{flowed.SIGNATURE_SEPARATOR}\nBob")
    ]


def plain(text: str) -> str:
    """`text` with LF line ends and no control characters but tab and newline."""
    return CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def split_signature(text: str) -> tuple[str, str | None]:
    """The text before its last "-- " line, and the signature after it (None: none)."""
    lines = text.replace("\r\n", "\n").split("\n")
    for at in range(len(lines) - 1, -1, -1):
        if lines[at] == flowed.SIGNATURE_SEPARATOR:
            return "\n".join(lines[:at]).rstrip(), "\n".join(lines[at + 1 :]).strip("\n")
    return text.rstrip(), None


def load_signatures(directory: Path) -> dict[str, str]:
    """`<mailbox>.txt` → its text, keyed by the lower-cased mailbox; none without the dir.
    A first line "-- " (or "--", as an editor that strips trailing spaces leaves it) is
    dropped: the template writes the separator, and a reader would see two."""
    if not directory.is_dir():
        return {}
    signatures = {}
    for path in sorted(directory.glob("*.txt")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text") from None
        lines = [line.rstrip() for line in plain(text).strip("\n").split("\n")]
        if lines[0] == flowed.SIGNATURE_SEPARATOR.rstrip():  # the template writes its own
            lines = "\n".join(lines[1:]).lstrip("\n").split("\n")
        signatures[path.stem.lower()] = "\n".join(lines)
    return signatures
