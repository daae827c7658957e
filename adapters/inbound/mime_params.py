"""Content-Type, Content-Disposition (and the recipients of a delivery-status report) cut to a
sane size before the stdlib reads their parameters.

The stdlib reads a header's parameters (`get_param`, `get_boundary`, `get_filename`,
`get_content_charset`, the feedparser's own `get_boundary` on every multipart, flufl.bounce's
DSN detector's `get_params` on Final-Recipient) with `email.message._parseparam`, which
rescans the value from its start for every `;` inside quotes and copies the rest of it for
every parameter: quadratic. One `a=";;;…"` of 64 KB
cost 10 s of CPU, 293 KB over 3 minutes (docs/performance.md). Rather than replace a private
stdlib function, the parser's policy (`header_source_parse`, the documented hook every header
of every MIME part passes through) hands the stdlib only values it reads in linear time: at
most MAX_CHARS characters and MAX_SEMICOLONS semicolons. A value over either is split here in
one pass, the way the stdlib splits it, and rebuilt from its short parameters (the ones the
parser reads first: the boundary of a legitimate multipart survives wherever it stood), with
a defect saying so.
"""

from __future__ import annotations

import re
from email.policy import Compat32

# Every header whose parameters are read: ours, and the DSN bounce detector's recipients.
PARAM_HEADERS = frozenset(
    {"content-type", "content-disposition", "final-recipient", "original-recipient"}
)
# A real Content-Type is under 200 characters; a long RFC 2231 file name (255 characters,
# percent-encoded UTF-8, in 30 continuations) about 3 KB and 30 semicolons.
MAX_CHARS = 8 * 1024
MAX_SEMICOLONS = 64
MAX_PARAM_CHARS = 1024
# Read before the split, so splitting is bounded too; no legitimate value comes near it.
MAX_SPLIT_CHARS = 256 * 1024
# The parameters mailroom and the bounce detectors read: kept first when not all fit.
READ_PARAMS = frozenset({"boundary", "charset", "name", "filename", "report-type"})
SPLIT_TOKENS = re.compile(r'\\"|"|;')


class CappedParams(Compat32):
    """compat32, with the parameter headers cut (see module). One per parse: `capped` collects
    the defects of the headers it cut."""

    capped: list[str] | None = None

    def __init__(self) -> None:
        # A policy is read-only once made: _PolicyBase's __init__ sets the attributes its class
        # declares (typeshed lists only the stdlib's own).
        super().__init__(capped=[])  # type: ignore[call-arg]

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if name.strip().lower() in PARAM_HEADERS and not within_limits(value):
            value, defect = cap_params(name.strip(), value)
            if self.capped is not None:
                self.capped.append(defect)
        return name, value


def capped_policy() -> CappedParams:
    return CappedParams()


def within_limits(value: str) -> bool:
    """Whether the stdlib reads `value`'s parameters cheaply: O(semicolons * length)."""
    return len(value) <= MAX_CHARS and value.count(";") <= MAX_SEMICOLONS


def cap_params(name: str, value: str) -> tuple[str, str]:
    """`value` rebuilt from its type and the short parameters that fit the limits, in their
    order, those mailroom reads first; and the defect saying what was cut."""
    pieces = split_params(value[:MAX_SPLIT_CHARS])
    kind, params = _type_of(pieces[0]), pieces[1:]
    chars, semicolons = len(kind), kind.count(";")
    kept: set[int] = set()
    for wanted in (True, False):
        for index, param in enumerate(params):
            if index in kept or (_param_name(param) in READ_PARAMS) != wanted:
                continue
            cost_chars, cost_semicolons = len(param) + 1, param.count(";") + 1
            if len(param) > MAX_PARAM_CHARS:
                continue
            if chars + cost_chars > MAX_CHARS or semicolons + cost_semicolons > MAX_SEMICOLONS:
                continue
            kept.add(index)
            chars, semicolons = chars + cost_chars, semicolons + cost_semicolons
    capped = ";".join([kind, *(p for i, p in enumerate(params) if i in kept)])
    defect = (
        f"{name} of {len(value)} characters cut to {len(capped)}: "
        f"{len(kept)} of its {len(params)} parameters kept"
    )
    return capped, defect


def split_params(value: str) -> list[str]:
    """`value` split at each `;` outside quotes, as `email.message._parseparam` splits it (a
    quote counts unless a backslash precedes it), in one pass instead of one per `;`."""
    pieces: list[str] = []
    start, quoted = 0, False
    for token in SPLIT_TOKENS.finditer(value):
        if token.group() == '"':
            quoted = not quoted
        elif token.group() == ";" and not quoted:
            pieces.append(value[start : token.start()])
            start = token.end()
    pieces.append(value[start:])
    return pieces


def _type_of(piece: str) -> str:
    """The type (`text/plain`), or what of a hostile one cannot swallow the parameters."""
    if len(piece) <= MAX_PARAM_CHARS and ";" not in piece:
        return piece
    return piece.partition(";")[0].replace('"', "")[:MAX_PARAM_CHARS]


def _param_name(param: str) -> str:
    """`filename` of ` FileName*0*=utf-8''…`, as the stdlib matches names."""
    return param.partition("=")[0].strip().lower().partition("*")[0]
