"""HTML-only mail → readable plain text.

inscriptis (Apache-2.0, on lxml) renders HTML the way a text browser would — paragraphs,
lists, tables laid out — which a hand-written tag stripper does not. The stdlib collector
below stays as the fallback for markup lxml refuses (e.g. NUL bytes, encoding declarations
in a str)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import inscriptis

BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "hr"}
)
SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self.skipping += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    try:
        text = inscriptis.get_text(html)
    except Exception:  # lxml refuses some hostile input outright: strip tags ourselves
        return _collected_text(html)
    lines = (line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _collected_text(html: str) -> str:
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # malformed markup: keep whatever text was collected
        pass
    lines = (" ".join(line.split()) for line in "".join(collector.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
