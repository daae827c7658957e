"""The first Message-ID of a mail's header, read without parsing the header.

`peek_message_id` runs on every mail the SMTP listener takes (the log context of its
hand-off) and on every IMAP header fetched. The email package's header parser built a whole
`Message` of every header for it: about 5 % of the listener's CPU per mail (measured,
docs/performance.md). This reads the header's lines the way `email.feedparser` does (the
same line ends, the same test for where the header stops, the same continuation rules) and
stops at the end of the first Message-ID field. A value that is not ASCII (the parser would
hand back a `Header` of unknown-8bit) is left to the parser: `NOT_READ`.
"""

from __future__ import annotations

import re
from enum import Enum

# email.feedparser's headerRE and line ends (\r\n, \r or \n), on the undecoded bytes: a byte
# over 0x7f is a surrogate there and matches neither.
HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")
LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")


class NotRead(Enum):
    """Only the parser can read this value."""

    NOT_READ = "not read"


NOT_READ = NotRead.NOT_READ


def first_message_id_field(raw: bytes, limit: int) -> str | NotRead | None:
    """The raw value of the first Message-ID field as `Message.get` gives it (compat32:
    folds kept, the line end stripped), None when there is none, `NOT_READ` when only the
    parser can say. Reads `raw[:limit]`, without copying it."""
    value: list[bytes] | None = None
    position, end = 0, min(len(raw), limit)
    while position < end:
        line = LINE.match(raw, position, end)
        assert line is not None  # matches at least one byte before the end
        text, position = line[0], line.end()
        if not HEADER_LINE.match(text):
            break  # the blank line, or the body's first line: the header ends
        if text[:1] in (b" ", b"\t"):
            if value is not None:
                value.append(text)
            continue  # a continuation of another field, or of none (dropped)
        if value is not None:
            break  # the Message-ID field is whole
        colon = text.find(b":")
        if colon > 0 and text[:colon].lower() == b"message-id":
            value = [text]
    if value is None:
        return None
    if not all(line.isascii() for line in value):
        return NOT_READ
    # compat32's header_source_parse: the first line's value without its leading blanks,
    # the continuation lines as they are, the last line end stripped.
    field = value[0].decode("ascii").split(":", 1)[1].lstrip(" \t")
    field += "".join(line.decode("ascii") for line in value[1:])
    return field.rstrip("\r\n")
