"""Poison mail: what once made parsing raise, for the unit, SMTP, IMAP and replay tests.

Each names a charset Python's codec registry knows but that is no text encoding (rot13, zlib,
base64, hex, uu, bz2, quopri), one that refuses errors="replace" (idna, punycode, undefined),
or bytes that decode to a lone surrogate (UTF-7 and UTF-16 can encode one); in an encoded-word
of the Subject, the From name and an attachment's filename, and as the body's charset=.
"""

from __future__ import annotations

import base64

# Every codec name the registry resolves to something that is no MIME charset.
NOT_TEXT_CODECS = ("rot13", "zlib", "base64", "hex", "uu", "bz2", "quopri", "bz2_codec")
REFUSE_REPLACE = ("idna", "punycode", "undefined")
ESCAPES = ("unicode_escape", "raw_unicode_escape")
POISON_LABELS = (*NOT_TEXT_CODECS, *REFUSE_REPLACE, *ESCAPES)
# (label, payload) of an encoded-word decoding to a lone surrogate: U+D800 alone.
LONE_SURROGATES = (
    ("utf-7", "+2AA-"),
    ("utf-16-le", base64.b64encode(b"\x00\xd8").decode()),
    ("utf-16", base64.b64encode(b"\xff\xfe\x00\xd8").decode()),
)


def encoded_word(label: str, text: str = "caf\xe9 \x1bc red") -> str:
    """An RFC 2047 Q-encoded word in `label`, of bytes that are no valid UTF-8."""
    data = text.encode("latin-1")
    quoted = "".join(chr(b) if 0x21 <= b < 0x7F and b not in b"=?_" else f"={b:02X}" for b in data)
    return f"=?{label}?Q?{quoted}?="


def surrogate_word(label: str, payload: str) -> str:
    encoding = "Q" if label == "utf-7" else "B"
    return f"=?{label}?{encoding}?{payload}?="


def poison_mail(label: str, message_id: str, to: str = "support@mailroom.local") -> bytes:
    """A mail naming `label` everywhere a charset can be named, with 8-bit bytes in each."""
    word = encoded_word(label)
    return (
        f"Message-ID: {message_id}\r\nFrom: {word} <alice@customer.example>\r\nTo: {to}\r\n"
        f"Subject: Poison {label}: {word}\r\nDate: Mon, 04 Mar 2024 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=PP\r\n\r\n"
        f"--PP\r\nContent-Type: text/plain; charset={label}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nthe body, caf\xe9\r\n"
        "--PP\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="{word}.txt"\r\n\r\nbytes\r\n--PP--\r\n'
    ).encode("latin-1")


def surrogate_mail(label: str, payload: str, message_id: str) -> bytes:
    word = surrogate_word(label, payload)
    return (
        f"Message-ID: {message_id}\r\nFrom: {word} <alice@customer.example>\r\n"
        f"To: support@mailroom.local\r\nSubject: Lone {word} surrogate\r\n"
        "Date: Mon, 04 Mar 2024 10:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-7\r\n\r\nbody +2AA- end\r\n"
    ).encode()


def all_poison(tag: str) -> dict[str, bytes]:
    """Message-ID → raw, one mail per poison label and per lone-surrogate encoding."""
    mails = {
        f"<poison-{label}-{tag}@x>": poison_mail(label, f"<poison-{label}-{tag}@x>")
        for label in POISON_LABELS
    }
    for label, payload in LONE_SURROGATES:
        message_id = f"<surrogate-{label}-{tag}@x>"
        mails[message_id] = surrogate_mail(label, payload, message_id)
    return mails


def too_large_mail(message_id: str, to: str = "support@mailroom.local") -> bytes:
    """A mail whose NEW_MESSAGE can never fit a signal (PayloadTooLarge), however its parts are
    claim-checked: 200 attachments (all a signal lists) named by 255 four-byte characters, in
    folded encoded-words (a line stays under SMTP's 1 000 octets), and 100 long References."""
    clips = ("\U0001f4ce" * 12).encode()
    words = "\r\n ".join(f"=?utf-8?b?{base64.b64encode(clips).decode()}?=" for _ in range(21))
    parts = "".join(
        f"--LL\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment;\r\n filename="{words}"\r\n\r\npart {n}\r\n'
        for n in range(200)
    )
    references = "\r\n ".join(f"<{n:03}{'r' * 470}@customer.example>" for n in range(100))
    return (
        f"Message-ID: {message_id}\r\nFrom: alice@customer.example\r\nTo: {to}\r\n"
        f"References: {references}\r\nSubject: Two hundred clips\r\n"
        "Date: Mon, 04 Mar 2024 10:00:00 +0000\r\n"
        f"Content-Type: multipart/mixed; boundary=LL\r\n\r\n{parts}--LL--\r\n"
    ).encode()
