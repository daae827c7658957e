"""Bytes in a declared charset → text that is always readable or visibly replaced, never raises.

Mail lies about its charset all the time: UTF-8 labelled GB2312 or ISO-8859-1, `X-UNKNOWN`,
`charset=3Dutf-8` (a quoted-printable escape in the header), no label at all on 8-bit bytes.
The rules, in order:

1. Bytes with a non-ASCII byte that are valid UTF-8 are UTF-8: no legacy 8-bit text of any
   length is valid UTF-8 by accident, and mislabelled UTF-8 is the most common lie.
2. Else the declared charset, through its superset where one exists (Windows-1252 for
   ISO-8859-1 and US-ASCII as WHATWG does, CP932 for Shift_JIS, GB18030 for GB2312, CP949 for
   EUC-KR), strictly.
3. Else (unknown label, or bytes invalid in it) a defect, and the declared charset with
   replacement characters, or Windows-1252 (which maps every byte) when the label is unknown.

A label is only ever a *text* encoding: Python's codec registry also answers to `rot13`,
`zlib`, `base64`, `hex`, `uu`, `bz2`, `quopri` (bytes-to-bytes or str-to-str transforms),
`idna`, `punycode`, `undefined` (which refuse `errors="replace"`) and `unicode_escape`
(which reads backslashes as escapes): a mail naming one is treated as naming an unknown
charset. Whatever a codec still raises falls back to rule 3, and what a decode returns has
no lone surrogates (UTF-7, UTF-16 and UTF-32 can encode one; JSON and UTF-8 cannot carry it).

`printable_line` and `printable_text` make a decoded value safe to leave the parser: no C0
or C1 control character (ESC sequences, NUL, bare CR) and no newline where a value is one line.
"""

from __future__ import annotations

import codecs
import re

SUPERSETS = {
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "iso2022_jp": "iso2022_jp_ext",
}
# 7-bit encodings: their bytes are valid ASCII/UTF-8, so rule 1 never applies to them.
SEVEN_BIT = frozenset({"utf_7", "iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_kr"})
# Text encodings in Python's registry that are no MIME charset and misbehave as one.
NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape"})
FALLBACK = "cp1252"
LABEL_JUNK = re.compile(r"^(3d)+|[\"'\s;]+", re.IGNORECASE)
MAX_LABEL_CHARS = 100
SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# C0 controls but tab and newline, DEL, and C1 controls (CSI \x9b drives some terminals).
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# In a one-line value, tab, newline and the other whitespace controls become one space.
LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LINE_SPACES = re.compile("[\t\n\x0b-\x0d\x1c-\x1f\x85\u2028\u2029]")


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, through its superset; None if unknown or
    not a text encoding."""
    if not label:
        return None
    cleaned = LABEL_JUNK.sub("", label.strip().lower()[:MAX_LABEL_CHARS])
    try:
        info = codecs.lookup(cleaned)
    except Exception:  # LookupError, and whatever a third-party codec search function raises
        return None
    name = info.name.replace("-", "_")
    if not info._is_text_encoding or name in NOT_CHARSETS:
        return None
    return SUPERSETS.get(name, name)


def decode_text(data: bytes, label: str | None) -> tuple[str, str | None]:
    """(text, defect or None). Never raises; the text is valid Unicode (no lone surrogate)."""
    try:
        text, defect = _decode(data, label)
    except Exception as exc:  # a codec that raised even with errors="replace"
        text = data.decode(FALLBACK, errors="replace")
        defect = f"charset {label!r} failed ({type(exc).__name__}): read as {FALLBACK}"
    if SURROGATES.search(text):
        text = SURROGATES.sub(REPLACEMENT, text)
        defect = defect or f"lone surrogate in charset {label!r}: replaced"
    return text, defect


def _decode(data: bytes, label: str | None) -> tuple[str, str | None]:
    codec = codec_for(label)
    if codec not in SEVEN_BIT and not data.isascii():
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError, ValueError):
            text = data.decode(codec, errors="replace")
            return text, f"bytes invalid in charset {label!r}: replaced"
    if data.isascii():
        return data.decode("ascii"), None if not label else f"unknown charset {label!r}"
    defect = f"unknown charset {label!r}: read as {FALLBACK}" if label else None
    return data.decode(FALLBACK, errors="replace"), defect or "8-bit text without a charset"


def printable_text(text: str) -> str:
    """Text that may span lines (a body): newlines are LF, tab kept, other controls dropped,
    lone surrogates replaced."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return SURROGATES.sub(REPLACEMENT, CONTROLS.sub("", text))


def printable_line(text: str) -> str:
    """A one-line value (a subject, a name, an address, an id): whitespace controls become a
    space, other controls are dropped, lone surrogates replaced."""
    if text.isprintable():  # no control, surrogate or odd space: the common case, cheaply
        return text
    text = LINE_CONTROLS.sub("", LINE_SPACES.sub(" ", text))
    return SURROGATES.sub(REPLACEMENT, text)
