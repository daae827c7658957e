"""What a support team member wrote in answer to an escalation notice, and nothing else.

The notice is internal: it carries the team's instructions, the conversation and the
`mailroom reply` command. A reply quotes it, and a mail client may quote it in a way the
reply parser cannot see (an HTML-only reply's <blockquote>, an Outlook reply that is only a
signature and the "Original Message"). So an answer is the parser's new text only (never
the whole body), cut at the notice's first line; text still carrying a line of the notice
is not sent to the customer at all.
"""

from __future__ import annotations

import re

from use_cases.models import NewMessage

NOTICE_MARKER = "--- mailroom: write your answer above this line ---"
_MARKER_WORDS = "mailroom: write your answer above this line"
# The notice's own lines: whichever of them reaches an answer, the notice leaked into it.
NOTICE_LINES = re.compile(
    r"(mailroom: write your answer above this line|^\W*to answer \S+@\S+, reply to this mail"
    r"|^\W*the conversation so far:|mailroom reply thread-|mailroom reply \S+ --body)",
    re.IGNORECASE | re.MULTILINE,
)


def agent_answer(message: NewMessage) -> str:
    """The agent's new text above the notice's marker line ("" when they wrote nothing)."""
    text = message.new_text
    at = text.lower().find(_MARKER_WORDS)
    if at >= 0:
        text = text[: text.rfind("\n", 0, at) + 1]  # the marker's whole line goes
    return text.strip()


def quotes_notice(text: str) -> bool:
    """True when `text` still holds a line of the internal notice: never for the customer."""
    return NOTICE_LINES.search(text) is not None
