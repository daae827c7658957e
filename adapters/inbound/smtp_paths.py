"""The address of a MAIL FROM or RCPT TO, cheaply for the form nearly every client sends.

aiosmtpd reads each path with the email package's RFC 5322 parser (`get_angle_addr`), which
builds a token tree for every address: about a tenth of the SMTP listener's CPU per mail
(measured, docs/performance.md). A path that is `<local@domain>`, both dot-atoms of ASCII,
followed by nothing or by whitespace and parameters, reads the same either way (property
test against aiosmtpd's own reading); anything else — quoted local parts, comments, an
address literal, UTF-8, the null path `<>`, an encoded word — goes to aiosmtpd's parser as
before.
"""

from __future__ import annotations

import re

from aiosmtpd.smtp import SMTP

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# Not a local part starting `=?`: the email package decodes it as an RFC 2047 encoded word
# (aiosmtpd then gives `abc@example.com` for `<=?utf-8?q?abc?=@example.com>`).
PLAIN_PATH = re.compile(rf"<(?!=\?)({ATEXT}+(?:\.{ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")
# What the email package takes as folding white space or a comment right after the `>`.
AFTER_PATH = frozenset(" \t(")


def plain_path(arg: str, local_part_limit: int) -> tuple[str, str] | None:
    """(address, the rest) as aiosmtpd's `_getaddr` returns them, for a plain path; None
    for any other argument (the caller asks aiosmtpd)."""
    found = PLAIN_PATH.match(arg)
    if found is None:
        return None
    address = found[1]
    if local_part_limit and address.rindex("@") > local_part_limit:
        return None
    rest = arg[found.end() :]
    if rest and rest[0] in AFTER_PATH:
        if rest[0] == "(":
            return None
        rest = rest.lstrip()  # the parser's folding white space: every Unicode space
        if rest.startswith("("):
            return None  # a comment: the parser's to read
    return address, rest


class PlainPathSMTP(SMTP):
    """aiosmtpd's SMTP reading MAIL/RCPT paths through `plain_path` first: mailroom's
    listener and the bench's bare adapter."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = plain_path(arg, self.local_part_limit)
        if plain is not None:
            return plain
        address: tuple[str | None, str | None] = super()._getaddr(arg)
        return address
