"""HTML-only mail → readable plain text, at a bounded cost.

inscriptis (Apache-2.0, on lxml) renders HTML the way a text browser would — paragraphs,
lists, tables laid out — which a tag stripper does not. It costs about 1.2 µs of CPU per
byte of table markup (a 500 KB HTML table: 0.6 s on an idle core, seconds under load), so it
renders at most `RENDER_MAX_CHARS`; bigger HTML, markup lxml refuses (NUL bytes, an encoding
declaration in a str) and HTML whose rendering `plain_html_only()` switched off (the parse
pool's second try after a mail ran out of CPU) are reduced by `stripped_text`, one linear
pass in which every tag is found by a regular expression that cannot backtrack across
another `<`. Nothing is lost to the cut: the raw mail is kept as a blob.
"""

from __future__ import annotations

import html as html_entities
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import inscriptis

# Real HTML mail (newsletters, invoices) stays far below; a mail over it is machine-made.
RENDER_MAX_CHARS = 256 * 1024
BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "table",
        "hr",
        "ul",
        "ol",
        "pre",
        "section",
        "article",
        "header",
        "footer",
    }
)
CELL_TAGS = frozenset({"td", "th"})
# Raw text elements: their content is never shown (script, style) or is not the message's.
SKIPPED_TAGS = frozenset({"script", "style", "title", "template"})
# A tag, a comment's start, or a declaration/processing instruction. `[^<>]*` stops at the
# next `<`, so markup without `>` costs one step per byte, never a rescan to the end.
MARKUP = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^<>]*>|<!--|<[!?][^<>]*>")
BLANK_LINES = re.compile(r"\n{3,}")
_render = ContextVar("render_html", default=True)


def html_to_text(html: str, defects: list[str] | None = None) -> str:
    """`html` as text; when it was only stripped of its tags, says why in `defects`."""
    if not _render.get():
        return _stripped(html, defects, "HTML not rendered (the parse ran out of CPU time)")
    if len(html) > RENDER_MAX_CHARS:
        why = f"HTML of {len(html)} chars not rendered (over {RENDER_MAX_CHARS})"
        return _stripped(html, defects, why)
    try:
        text = inscriptis.get_text(html)
    except Exception as exc:  # lxml refuses some hostile input outright
        return _stripped(html, defects, f"HTML not rendered ({type(exc).__name__})")
    lines = (line.rstrip() for line in text.splitlines())
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


@contextmanager
def plain_html_only() -> Iterator[None]:
    """Within it, HTML is only stripped of its tags (cheap, linear) in this context."""
    token = _render.set(False)
    try:
        yield
    finally:
        _render.reset(token)


def _stripped(html: str, defects: list[str] | None, why: str) -> str:
    if defects is not None:
        defects.append(f"{why}: tags stripped")
    return stripped_text(html)


def stripped_text(html: str) -> str:
    """Text of `html` in one linear pass: tags dropped, blocks as line breaks, cells apart,
    script/style/title content skipped, entities decoded, spaces collapsed."""
    parts: list[str] = []
    unclosed: set[str] = set()  # raw text elements with no end tag after some point
    pos = 0
    end = len(html)
    while pos < end:
        found = MARKUP.search(html, pos)
        if found is None:
            parts.append(html[pos:])
            break
        parts.append(html[pos : found.start()])
        pos = found.end()
        closing, tag = found.group(1), (found.group(2) or "").lower()
        if found.group(0) == "<!--":  # an unclosed comment hides the rest, as in a browser
            close = html.find("-->", pos)
            pos = end if close < 0 else close + 3
        elif tag in SKIPPED_TAGS and not closing and tag not in unclosed:
            close = _find_close(html, tag, pos)
            if close < 0:  # keep its text rather than lose the rest; never search again
                unclosed.add(tag)
            else:
                pos = close
        elif tag in ("li", "tr"):  # one line per item or row, however it is closed
            parts.append("" if closing else "\n- " if tag == "li" else "\n")
        elif tag in BLOCK_TAGS:
            parts.append("\n")
        elif tag in CELL_TAGS:
            parts.append(" ")
    text = html_entities.unescape("".join(parts)).replace("\xa0", " ")
    lines = (" ".join(line.split()) for line in text.splitlines())
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _find_close(html: str, tag: str, start: int) -> int:
    """Where the end tag of the raw text element `tag` ends, or -1."""
    found = re.compile(rf"</{tag}[^<>]*>", re.IGNORECASE).search(html, start)
    return -1 if found is None else found.end()
