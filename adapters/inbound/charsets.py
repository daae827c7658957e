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
FALLBACK = "cp1252"
LABEL_JUNK = re.compile(r"^(3d)+|[\"'\s;]+", re.IGNORECASE)


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, through its superset; None if unknown."""
    if not label:
        return None
    cleaned = LABEL_JUNK.sub("", label.strip().lower())
    try:
        name = codecs.lookup(cleaned).name.replace("-", "_")
    except (LookupError, ValueError):
        return None
    return SUPERSETS.get(name, name)


def decode_text(data: bytes, label: str | None) -> tuple[str, str | None]:
    """(text, defect or None)."""
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
