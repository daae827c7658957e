"""Trusting the operator's own MTA about who sent a mail (RFC 8601 Authentication-Results).

An MTA that checks DKIM, SPF and DMARC records its verdict in an `Authentication-Results:`
header that starts with its own name (the authserv-id), and removes any header with that
name the mail arrived with (RFC 8601 §5). So only a header carrying the name the operator
configured (MAILROOM_TRUSTED_AUTHSERV_ID) is believed, the topmost such one: it says the
`From:` domain passed DMARC, or a DKIM signature of that very domain verified. Any other
header in the mail could have been written by its sender.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser

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
        header = self._ours(raw)
        if header is None:
            return False
        return _passed(header, domain)

    def _ours(self, raw: bytes) -> authres.AuthenticationResultsHeader | None:
        try:
            headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[:MAX_HEADER_BYTES])
            values = headers.get_all("Authentication-Results") or []
        except Exception:  # hostile bytes: no verdict is a "no"
            return None
        for value in values:
            try:
                parsed = authres.parse(f"Authentication-Results: {' '.join(str(value).split())}")
            except Exception:
                continue
            if str(parsed.authserv_id).lower() == self.authserv_id:
                return parsed
        return None


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
