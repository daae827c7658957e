"""Where automatic mail about a received message may go (RFC 3834 §4), if anywhere.

Anyone can write any `From:`: answering it mails a third party the attacker chose, with the
attacker's subject quoted (backscatter). Automatic mail therefore goes to the envelope sender
(SMTP's MAIL FROM, or the Return-Path the final MTA wrote), which is where the mail's
delivery problems go too, and to the `From:` only when both are at the same domain (a
person's own address rather than their provider's bounce-handling one) or the operator's
MTA vouched for the `From:` domain. Null senders and
addresses that say they take no mail get nothing.
"""

from __future__ import annotations

import re

from use_cases.mail import InboundEmail

# Local parts that announce nobody reads replies to them (RFC 3834 §5.2 spirit; Postfix's
# and common helpdesks' lists of machine senders).
NO_REPLY = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|mailer[-_.]?daemon|postmaster|"
    r"bounces?|mail[-_.]?delivery[-_.]?subsystem|double[-_.]?bounce|notifications?)"
    r"([+-].*)?$",
    re.IGNORECASE,
)


# Sender Rewriting Scheme: a forwarder's envelope that carries the original sender, as
# SRS0=hash=tt=domain=local@forwarder, SRS1=…==hash=tt=domain=local@forwarder, and
# Microsoft 365's bounces+SRS=hash=tt=domain=local@forwarder.
SRS = re.compile(
    r"^(?:bounces\+)?srs[01]?[=+-](?:.*==)?[^=]*=[^=]*=(?P<domain>[^=@]+)=(?P<local>[^@]+)@",
    re.IGNORECASE,
)


def unwrap_forwarded(envelope: str) -> str:
    """The original sender behind a forwarder's rewritten envelope sender, else `envelope`:
    the forwarder vouches for it, as it would for the bounce it routes back there."""
    found = SRS.match(envelope.strip().strip("<>"))
    if found is None:
        return envelope
    return f"{found['local']}@{found['domain']}".lower()


def organisation(domain: str) -> str:
    """`mail.corp.example` → `corp.example`; `shop.co.uk` stays (a two-letter country's
    short second level, as in co.uk and com.au, counts as part of the suffix)."""
    labels = domain.lower().split(".")
    short_suffix = len(labels) >= 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3
    return ".".join(labels[-3:] if short_suffix else labels[-2:])


def automatic_reply_target(email: InboundEmail) -> str:
    """The one address automatic mail about `email` may go to; "" for none."""
    sender = email.from_addr.strip().lower()
    if email.return_path is None:  # no envelope known (a file replayed without Return-Path)
        envelope = sender
    else:
        envelope = email.return_path.strip().strip("<>").strip().lower()
    if not envelope or "@" not in envelope:
        return ""
    same_domain = sender and organisation(_domain(sender)) == organisation(_domain(envelope))
    target = sender if same_domain or (sender and email.from_authenticated) else envelope
    return "" if NO_REPLY.match(target.rpartition("@")[0]) else target


def _domain(address: str) -> str:
    return address.rpartition("@")[2]
