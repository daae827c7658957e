"""Trusting the operator's own MTA about who sent a mail (RFC 8601 Authentication-Results).

An MTA that checks DKIM, SPF and DMARC records its verdict in an `Authentication-Results:`
header that starts with its own name (the authserv-id), and removes any header with that
name the mail arrived with (RFC 8601 §5). So a header carrying the name the operator
configured (MAILROOM_TRUSTED_AUTHSERV_ID) is believed when it is the only one, readable, and
the mail has one From address: it says the `From:` domain passed DMARC, or a DKIM signature
of that very domain verified. Any other header in the mail could have been written by its
sender. The verdict is about the domain only: it chooses where automatic mail may go, never
whether a mail may decide something.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

import authres  # maintained RFC 8601 parser

MAX_HEADER_BYTES = 256 * 1024


class TrustedAuthenticationResults:
    def __init__(self, authserv_id: str) -> None:
        self.authserv_id = authserv_id.strip().lower()

    def __call__(self, raw: bytes, from_addr: str) -> bool:
        """True when our MTA's verdict says `from_addr`'s domain passed."""
        domain = from_addr.rpartition("@")[2].lower()
        if not self.authserv_id or not domain:
            return False
        try:
            headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[:MAX_HEADER_BYTES])
            senders = getaddresses([str(v) for v in headers.get_all("From") or []])
            values = [str(v) for v in headers.get_all("Authentication-Results") or []]
        except Exception:  # hostile bytes: no verdict is a "no"
            return False
        if len(senders) != 1:  # the verifier may have judged another From than ours
            return False
        ours = [v for v in values if _authserv_id(v) == self.authserv_id]
        if len(ours) != 1:  # none, or one the sender wrote beside our MTA's
            return False
        try:
            header = authres.parse(f"Authentication-Results: {' '.join(ours[0].split())}")
        except Exception:  # our MTA's header we cannot read: no verdict
            return False
        return _passed(header, domain)


def _authserv_id(value: str) -> str:
    """The name an Authentication-Results header starts with (RFC 8601 §2.2)."""
    first = value.split(";", 1)[0].split()
    return first[0].lower() if first else ""


def _passed(header: authres.AuthenticationResultsHeader, domain: str) -> bool:
    for result in header.results:
        if str(result.result).lower() != "pass":
            continue
        method = str(result.method).lower()
        properties = {
            (str(p.type).lower(), str(p.name).lower()): str(p.value).lower()
            for p in result.properties
        }
        if method == "dmarc" and properties.get(("header", "from")) == domain:
            return True
        if method == "dkim" and properties.get(("header", "d")) == domain:
            return True
    return False
