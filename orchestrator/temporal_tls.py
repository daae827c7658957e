"""How mailroom reaches a Temporal cluster: TLS, its files, and why a connection failed.

`MAILROOM_TEMPORAL_TLS` unset means "TLS when the cluster needs it": an API key, a CA, a
server name or a client certificate turns it on (the embedded server, plaintext on
127.0.0.1, excepted). An API key over plaintext to a host that is not this machine is
refused at start: the key would cross the network in the clear.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr
from temporalio.service import TLSConfig

from orchestrator.startup_checks import StartupError, reason

# the settings that only mean something over TLS (and turn it on when TLS is not set)
TLS_OPTIONS = ("temporal_tls_ca", "temporal_tls_server_name", "temporal_tls_cert")


class TemporalEndpoint(Protocol):
    """The settings this module reads (orchestrator/settings.py's Settings)."""

    @property
    def temporal_address(self) -> str: ...
    @property
    def temporal_api_key(self) -> SecretStr | None: ...
    @property
    def temporal_tls(self) -> bool | None: ...
    @property
    def temporal_tls_ca(self) -> Path | None: ...
    @property
    def temporal_tls_server_name(self) -> str: ...
    @property
    def temporal_tls_cert(self) -> Path | None: ...
    @property
    def temporal_tls_key(self) -> Path | None: ...


def tls_enabled(settings: TemporalEndpoint) -> bool:
    """TLS as set, else on when an API key or a TLS option asks for it (a cluster only)."""
    if settings.temporal_tls is not None:
        return settings.temporal_tls
    if not settings.temporal_address:  # the embedded server: plaintext on 127.0.0.1
        return False
    return settings.temporal_api_key is not None or any(
        getattr(settings, name) for name in TLS_OPTIONS
    )


def tls_settings_problem(settings: TemporalEndpoint) -> str | None:
    """What is wrong with the TLS settings taken together, as `field: reason`, or None."""
    if (settings.temporal_tls_cert is None) != (settings.temporal_tls_key is None):
        return "temporal_tls_cert: set it and MAILROOM_TEMPORAL_TLS_KEY together (or neither)"
    option = next((name for name in TLS_OPTIONS if getattr(settings, name)), None)
    if option and not settings.temporal_address:
        return (
            f"{option}: only for a cluster (MAILROOM_TEMPORAL_ADDRESS); "
            "the embedded server has no TLS"
        )
    if settings.temporal_tls is not False:
        return None
    if option:
        return f"{option}: set, but MAILROOM_TEMPORAL_TLS is false"
    if settings.temporal_api_key is not None and not loopback(settings.temporal_address):
        return (
            "temporal_tls: false would send MAILROOM_TEMPORAL_API_KEY in the clear to "
            f"{settings.temporal_address}; unset MAILROOM_TEMPORAL_TLS (a key implies TLS)"
        )
    return None


def loopback(address: str) -> bool:
    """Whether `host:port` names this machine (empty: the embedded server, 127.0.0.1)."""
    host = address.rpartition(":")[0].strip("[]") if ":" in address else address
    if not host or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_config(settings: TemporalEndpoint) -> TLSConfig | bool:
    """What the SDK's `Client.connect(tls=...)` takes, the files read and checked now: a
    one-line StartupError naming the variable when one cannot be used."""
    if not tls_enabled(settings):
        return False
    ca = _read("MAILROOM_TEMPORAL_TLS_CA", settings.temporal_tls_ca)
    cert = _read("MAILROOM_TEMPORAL_TLS_CERT", settings.temporal_tls_cert)
    key = _read("MAILROOM_TEMPORAL_TLS_KEY", settings.temporal_tls_key)
    name = settings.temporal_tls_server_name or None
    if ca is None and name is None and cert is None:
        return True  # verified against the system's trusted CAs
    _check_usable(settings)
    return TLSConfig(server_root_ca_cert=ca, domain=name, client_cert=cert, client_private_key=key)


def _read(variable: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"{variable}: cannot read {path}: {reason(exc)}") from None


def _check_usable(settings: TemporalEndpoint) -> None:
    """The CA file holds certificates, the client certificate and key belong together (the
    SDK would only say so at the first call, without naming the file)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca, cert, key = settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError as exc:
            raise StartupError(
                f"MAILROOM_TEMPORAL_TLS_CA: {ca} holds no PEM certificate ({exc.reason})"
            ) from None
    if cert is not None and key is not None:
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise StartupError(
                f"MAILROOM_TEMPORAL_TLS_CERT: {cert} and MAILROOM_TEMPORAL_TLS_KEY {key} "
                f"are not a certificate and its key ({exc.reason})"
            ) from None


# What the SDK's connection error says (its text, from the Rust core) → what to change.
TLS_FAILURES = (
    ("UnknownIssuer", "its TLS certificate is signed by a CA this machine does not trust: "
     "set MAILROOM_TEMPORAL_TLS_CA to that CA's certificate"),
    ("NotValidForName", "its TLS certificate is not for this name: set "
     "MAILROOM_TEMPORAL_TLS_SERVER_NAME to a name it carries"),
    ("Expired", "its TLS certificate has expired"),
    ("CertificateRequired", "it wants a client certificate: set MAILROOM_TEMPORAL_TLS_CERT "
     "and MAILROOM_TEMPORAL_TLS_KEY"),
    ("400 Bad Request", "it refused this client (a proxy that wants a client certificate "
     "answers so): set MAILROOM_TEMPORAL_TLS_CERT and MAILROOM_TEMPORAL_TLS_KEY"),
    ("BadCertificate", "it refused the client certificate (MAILROOM_TEMPORAL_TLS_CERT): is "
     "it signed by a CA the server trusts?"),
    ("Unauthenticated", "it refused the credentials: check MAILROOM_TEMPORAL_API_KEY"),
    ("PermissionDenied", "it refused the credentials: check MAILROOM_TEMPORAL_API_KEY and "
     "MAILROOM_TEMPORAL_NAMESPACE"),
)  # fmt: skip
# plaintext HTTP/2 to a TLS port: the server's TLS alert read as a frame, or the connection
# closed as soon as it was made (seen both ways through nginx)
PLAINTEXT_TO_TLS = ("FRAME_SIZE_ERROR", "connection closed", "connection was not ready")


def connect_failure(settings: TemporalEndpoint, error: str) -> str | None:
    """Why the connection failed, in words that name the setting to change, when the SDK's
    error says so; None: say it is unreachable."""
    tls = tls_enabled(settings)
    for marker, why in TLS_FAILURES:
        if marker in error and (tls or marker in {"Unauthenticated", "PermissionDenied"}):
            if marker == "400 Bad Request" and settings.temporal_tls_cert is not None:
                return "it refused this client's certificate (MAILROOM_TEMPORAL_TLS_CERT)"
            return why
    if not tls and any(marker in error for marker in PLAINTEXT_TO_TLS):
        return (
            "it closed a plaintext connection as a TLS endpoint does: set "
            "MAILROOM_TEMPORAL_TLS=true (and MAILROOM_TEMPORAL_TLS_CA if its CA is private)"
        )
    return None
