"""What the CLI prints of mail: text from a sender reaches the operator's terminal, where an
ESC sequence could retitle the window, hide lines or fake output, and a NUL or a lone
surrogate could garble or break the line. Such characters are shown escaped instead."""

from __future__ import annotations

import re

# C0 controls (tab and newline included: a field is one line), DEL, C1 controls, the bidi
# embeddings/overrides/isolates that reorder what a line appears to say, lone surrogates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def visible(text: object) -> str:
    """`text` with every unsafe character written as a Python escape (`\\x1b`, `\\u202e`)."""
    return UNSAFE.sub(_escaped, str(text))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
