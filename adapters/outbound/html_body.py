"""The pieces the HTML template is made of: the body's blocks, and text with its links.

Everything here ends up in HTML that a mail client renders, and the text is untrusted (an
escalation quotes the customer's mail): text is escaped, and only http and https URLs
become links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from adapters.outbound import flowed

# A URL starts a word and ends at white space, a quote or an angle bracket.
URL = re.compile(r"(?<!\w)https?://[^\s<>\"']+", re.IGNORECASE)
LINK_SCHEMES = frozenset({"http", "https"})
# Punctuation after a URL ends the sentence, not the URL ("see https://x.example/a.").
TRAILING_PUNCTUATION = ".,;:!?'\"]}>"


@dataclass(frozen=True)
class Block:
    """A paragraph of the body (`depth` 0) or of a quote (`depth` ">" marks), its lines
    without the quote marks; each line a hard break."""

    depth: int
    lines: tuple[str, ...]


def blocks(text: str) -> list[Block]:
    """The body's paragraphs and quotes, from the same reflowed lines as the text part."""
    found: list[Block] = []
    after_blank = True
    for line in flowed.reflowed(text):
        if not line:
            after_blank = True
            continue
        depth = flowed.quote_depth(line)
        content = line[depth:].removeprefix(" ") if depth else line
        if found and not after_blank and found[-1].depth == depth:
            found[-1] = Block(depth, (*found[-1].lines, content))
        else:
            found.append(Block(depth, (content,)))
        after_blank = False
    return found


def linkify(text: str) -> Markup:
    """`text` escaped, its http(s) URLs made links (a Jinja filter: autoescape trusts it)."""
    parts: list[Markup] = []
    done = 0
    for found in URL.finditer(text):
        end = _url_end(text, found.start(), found.end())
        parts += [escape(text[done : found.start()]), link(text[found.start() : end])]
        done = end
    parts.append(escape(text[done:]))
    return Markup("").join(parts)


def link(url: str) -> Markup:
    """An <a> for an http(s) URL with a host; anything else stays escaped text."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" and friends
        return escape(url)
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.hostname:
        return escape(url)
    return Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(url)


def _url_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in TRAILING_PUNCTUATION:
        end -= 1
    if text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end):
        end -= 1  # "(see https://x.example/a)": the parenthesis is the sentence's
    return end
