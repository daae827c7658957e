"""The new text of a reply: quoted history, quote headers and signatures stripped.

Top-posted replies (Gmail, Outlook, Apple Mail, phones) and inline replies (Thunderbird,
mutt) both occur; so:
- a quote header ("On <date>, <person> wrote:", possibly wrapped over three lines, and its
  German/French/Spanish/Dutch/Scandinavian forms) followed by `>` lines is dropped with them,
  and the text between quoted blocks is kept (inline replies);
- a quote header followed by unquoted text (Gmail's plain-text part without `>`), an Outlook
  header block (From:/Sent:/To:), "-----Original Message-----", a forwarded-message marker
  or a line of underscores cuts everything below it;
- below the new text, a signature (a `-- ` line, RFC 3676 §4.3) and a trailing
  "Sent from my …" line are stripped.
"""

from __future__ import annotations

import re

QUOTE_HEADER_START = re.compile(r"^\s*(on|am|le|el|op|den|på|il|em)\s", re.IGNORECASE)
QUOTE_HEADER_END = re.compile(
    r"(wrote|schrieb|a écrit|escribió|schreef|skrev|ha scritto|escreveu)\s*:\s*$", re.IGNORECASE
)
CUT_ALWAYS = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|"
    r"forwarded message|weitergeleitete nachricht)\s*-{2,}|_{10,}|begin forwarded message:)\s*$",
    re.IGNORECASE,
)
RULE = re.compile(r"^\s*-{5,}\s*$")
FROM_LINE = re.compile(r"^\s*\*?(from|von|de|da|van|från|fra)\s*:\*?\s*\S", re.IGNORECASE)
HEADER_LINE = re.compile(
    r"^\s*\*?(sent|date|to|subject|gesendet|datum|an|betreff|envoyé|à|objet|enviado|para|asunto)"
    r"\s*:\*?",
    re.IGNORECASE,
)
SIGNATURE = re.compile(r"^(-- ?|--)$")
MOBILE_SIGNATURE = re.compile(
    r"^(sent from [\w ]{1,60}|sent from my [\w ]{1,60}|get outlook for \w+|"
    r"von meinem [\w ]{1,60} gesendet|envoyé de mon [\w ]{1,60})$",
    re.IGNORECASE,
)
MAX_HEADER_LINES = 3
MAX_LINES = 20_000


def reply_text(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:MAX_LINES]
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _quoted(line):
            index += 1
            continue
        header_end = _quote_header_end(lines, index)
        if header_end is not None:
            if _next_is_quoted(lines, header_end + 1):
                index = header_end + 1
                continue
            break
        if CUT_ALWAYS.match(line) or _outlook_headers_at(lines, index):
            break
        kept.append(line.rstrip())
        index += 1
    return _without_signature(kept)


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _quote_header_end(lines: list[str], index: int) -> int | None:
    if not QUOTE_HEADER_START.match(lines[index]):
        return None
    joined = ""
    for offset in range(MAX_HEADER_LINES):
        at = index + offset
        if at >= len(lines) or (offset and not lines[at].strip()):
            return None
        joined = f"{joined} {lines[at].strip()}"
        if QUOTE_HEADER_END.search(joined):
            return at
    return None


def _next_is_quoted(lines: list[str], start: int) -> bool:
    for line in lines[start:]:
        if line.strip():
            return _quoted(line)
    return True  # nothing follows: the header introduced nothing worth keeping


def _outlook_headers_at(lines: list[str], index: int) -> bool:
    """A From: line with Sent:/Date:/To: just below, or a dashed rule right above one."""
    line = lines[index]
    if RULE.match(line):
        following = [x for x in lines[index + 1 : index + 4] if x.strip()]
        return bool(following) and FROM_LINE.match(following[0]) is not None
    if not FROM_LINE.match(line):
        return False
    return any(HEADER_LINE.match(x) for x in lines[index + 1 : index + 4])


def _without_signature(lines: list[str]) -> str:
    for index, line in enumerate(lines):
        if SIGNATURE.match(line):
            lines = lines[:index]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and MOBILE_SIGNATURE.match(lines[-1].strip()):
        lines.pop()
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)
