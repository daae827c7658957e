"""Header values as text: unfolded, 8-bit bytes decoded, RFC 2047 words decoded, addresses
normalised (lower case, IDNA domains as A-labels). Nothing here raises on hostile input; an
address with a control character in it is no address."""

from __future__ import annotations

import base64
import quopri
import re
from email.message import Message
from email.utils import getaddresses

from adapters.inbound.charsets import decode_text

ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
FOLD = re.compile(r"\r?\n[ \t]*|\r")
MAX_HEADER_CHARS = 512_000  # a References header with 5 000 ids still fits
MAX_ADDRESSES = 1_000
MAX_ADDRESS_CHARS = 320  # RFC 5321 §4.5.3.1: 64 + @ + 255


def raw_headers(msg: Message) -> dict[str, list[str]]:
    """Every header by lower-case name, values decoded from 8-bit and unfolded (not 2047).

    Raw 8-bit headers (RFC 6532 allows UTF-8; older mailers send their body's charset) are
    read as UTF-8 when valid, else in the charset the message declares for its body."""
    try:
        hint = msg.get_content_charset()
    except Exception:
        hint = None
    found: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        found.setdefault(str(name).strip().lower(), []).append(unfold(value, hint))
    return found


def unfold(value: object, charset: str | None = None) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():  # 8-bit header bytes, kept by the parser as surrogate escapes
        data = text.encode("utf-8", "surrogateescape")
        text = decode_text(data, charset)[0]
    return FOLD.sub(" ", text)[:MAX_HEADER_CHARS].strip()


def decode_words(value: str) -> str:
    """RFC 2047 encoded words → text; whitespace between adjacent words is dropped (§6.2)."""
    if "=?" not in value:
        return value
    joined = BETWEEN_WORDS.sub(r"\1\2", value)
    return ENCODED_WORD.sub(_decode_word, joined)


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.groups()
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        if encoding in "bB":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"))
    except Exception:  # binascii.Error and ValueError, or anything hostile bytes find
        return match.group(0)
    return decode_text(data, charset)[0]


def normalise_address(address: str) -> str:
    """`Alice@Bücher.EXAMPLE.` → `alice@xn--bcher-kva.example`; '' when it is no address."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    local, domain = local.strip().lower(), domain.strip().rstrip(".").lower()
    if not at or not local or not domain or " " in domain or len(address) > MAX_ADDRESS_CHARS:
        return ""
    if not f"{local}{domain}".isprintable():  # a control, a surrogate or odd whitespace
        return ""
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except Exception:  # UnicodeError for an invalid label; nothing else may escape
            return ""
    return f"{local}@{domain}"


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, normalised address) for each address in the header values."""
    found: list[tuple[str, str]] = []
    try:
        pairs = getaddresses(values)
    except Exception:  # getaddresses has raised on crafted input in past CPython releases
        pairs = []
    for display, address in pairs[:MAX_ADDRESSES]:
        normalised = normalise_address(address)
        if normalised:
            found.append((" ".join(decode_words(display).split()), normalised))
    return found
