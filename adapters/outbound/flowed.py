"""Plain text for mail as RFC 3676 `format=flowed` (DelSp=no), and the reader for it.

A flowed line that ends in a space is a *soft* break: a reader joins it to the next line
and re-wraps the paragraph to its window, so the text neither breaks mid-line on a phone
nor stays a narrow column on a wide screen; a reader that knows nothing of flowed shows
lines of at most 72 characters. Writing it (`encode`):

- every line loses its trailing white space (it would read as a soft break), except the
  signature separator "-- ", kept as it is (RFC 3676 §4.3);
- lines are wrapped at spaces to at most `WIDTH` characters, each but the last ending in
  the space it was broken at; a word longer than that (a URL) gets a line of its own;
- a line that starts with a space, ">" or "From " is space-stuffed (§4.4);
- quoted lines (">" …) keep their quote depth and are never joined to their neighbours;
  only one longer than `MAX_LINE` is wrapped, each piece carrying the quote marks.

Reflowing hard breaks (`reflowed`): text hard-wrapped by its writer (a knowledge-base
answer's "…and follow\\nthe link…") becomes one line, so the reader can wrap it. The rule
is conservative, because a wrong join breaks a command or a password: a line is joined to
the one before it only when that line looks hard-wrapped, i.e. it is long (at least
`WRAPPED_AT` characters as written) and stops mid-sentence (not in ".", "!", "?" or ":"),
and the line starts with a lower-case letter. Never joined: lines inside a ``` or ~~~
fence and the fence lines, a run of short lines (a command per line, an address block,
"Hi bob,\\nthanks"), a "field: value" line ("user: alice"), and anything that looks like
structure: a quote (">"), an indented line, a list item ("- ", "* ", "1. ", "a) "), a
table row (a tab, three spaces in a row, " | "), the signature separator or anything
after it. A mid-sentence break before a capitalised word ("open\\nSettings") is kept.
"""

from __future__ import annotations

import re

WIDTH = 72  # RFC 3676 §4.2: 78 at most, 72 recommended
MAX_LINE = 78
SIGNATURE_SEPARATOR = "-- "
QUOTE_MARKS = re.compile(r">+")
CHUNK = re.compile(r" *[^ ]+ *")  # a word with the spaces after it (and any indent before)
LIST_ITEM = re.compile(r"(?:[-*+\u2022]|\d{1,3}[.)]|[A-Za-z][.)])\s")
TABLE_ROW = re.compile(r"\t|\S {3,}\S| \| ")
SENTENCE_END = (".", "!", "?", ":")
# A line this long as written was probably wrapped by its writer's editor (most wrap at
# 72 to 80); shorter lines are taken as meant: commands, addresses, a greeting.
WRAPPED_AT = 60
FENCE = re.compile(r"(?:```|~~~)")
FIELD = re.compile(r"[\w.-]+: ")  # "user: alice", "tracking: 123"


def encode(text: str) -> str:
    """`text` as format=flowed lines (LF line ends; the MIME writer makes them CRLF)."""
    out: list[str] = []
    for line in reflowed(text):
        depth = quote_depth(line)
        if depth:
            out.extend(_quoted(line[:depth], line[depth:].removeprefix(" ")))
        elif line == SIGNATURE_SEPARATOR:
            out.append(line)
        else:
            out.extend(_stuffed(piece) for piece in wrap(line, WIDTH))
    return "\n".join(out) + "\n"


def reflowed(text: str) -> list[str]:
    """The text's lines, trailing space removed and hard-wrapped sentences joined."""
    lines: list[str] = []
    previous = ""  # the line before, as written (`lines[-1]` may be several joined)
    in_signature = in_fence = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw if raw == SIGNATURE_SEPARATOR else raw.rstrip()
        in_signature = in_signature or line == SIGNATURE_SEPARATOR
        fence = FENCE.match(line) is not None
        if lines and not (in_signature or in_fence or fence) and continues(previous, line):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        in_fence = in_fence != fence
        previous = line
    while lines and not lines[-1]:
        lines.pop()
    return lines


def continues(previous: str, line: str) -> bool:
    """Whether `line` goes on with the sentence a hard wrap broke off in `previous`, the
    line before as written (module docstring)."""
    if len(previous) < WRAPPED_AT or previous.endswith(SENTENCE_END):
        return False
    if not line or not line[0].islower() or LIST_ITEM.match(line) or FIELD.match(line):
        return False
    return not any(_structured(text) for text in (previous, line))


def _structured(line: str) -> bool:
    return line[0] in " \t>" or line == SIGNATURE_SEPARATOR or TABLE_ROW.search(line) is not None


def quote_depth(line: str) -> int:
    marks = QUOTE_MARKS.match(line)
    return len(marks.group()) if marks else 0


def wrap(line: str, width: int) -> list[str]:
    """`line` broken after spaces into pieces of at most `width` characters, the trailing
    space included; a word longer than `width` is a piece of its own. A piece is never
    "-- ": a reader would take it for the signature separator."""
    pieces: list[str] = []
    current = ""
    for chunk in CHUNK.findall(line):
        if current not in ("", SIGNATURE_SEPARATOR) and len(current) + len(chunk) > width:
            pieces.append(current)
            current = ""
        current += chunk
    pieces.append(current)
    return pieces


def _stuffed(line: str) -> str:
    return f" {line}" if line.startswith((" ", ">", "From ")) else line


def _quoted(marks: str, content: str) -> list[str]:
    """A quoted line, stuffed after its marks; wrapped only when it is over MAX_LINE."""
    if len(marks) + 1 + len(content) <= MAX_LINE:
        return [f"{marks} {content}".rstrip()]
    return [f"{marks} {piece}" for piece in wrap(content, max(WIDTH - len(marks) - 1, 20))]


def decode(flowed: str) -> str:
    """The text a format=flowed (DelSp=no) reader shows: soft breaks joined within one
    quote depth, stuffing removed, quoted lines written back as "> " + text."""
    lines: list[str] = []
    joining = False
    for raw in flowed.replace("\r\n", "\n").removesuffix("\n").split("\n"):
        depth = quote_depth(raw)
        content = raw[depth:].removeprefix(" ")
        line = f"{'>' * depth} {content}" if depth and content else raw[:depth] + content
        if joining and lines and quote_depth(lines[-1]) == depth:
            lines[-1] += content
        else:
            lines.append(line)
        joining = content.endswith(" ") and content != SIGNATURE_SEPARATOR
    return "\n".join(lines) + "\n"
