"""Throwaway TLS certificates for the test Dovecot, made with the `openssl` CLI at fixture time.

A CA valid for a day signs a server certificate for localhost/127.0.0.1; a client trusts it
only through `ca_file=` with the CA's certificate.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import require_tool

TLS_HOSTS = ("localhost", "127.0.0.1")  # the server certificate's subjectAltNames


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the throwaway CA's certificate: what a client passes as ca_file
    cert: Path  # the server certificate, signed by that CA
    key: Path


def require_openssl() -> str:
    """The openssl CLI, which makes the test certificates; skip (fail under CI) without it."""
    return require_tool(
        shutil.which("openssl"),
        "openssl CLI not installed: the IMAP TLS tests need it to make certificates",
    )


def make_certificates(directory: Path) -> TlsFiles:
    """A CA valid for a day and a server certificate it signed for TLS_HOSTS.

    The extensions are what strict verification (Python's VERIFY_X509_STRICT) expects:
    a critical CA basicConstraints, key usages, and subject/authority key identifiers.
    """
    openssl = require_openssl()
    directory.mkdir(exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        openssl, "req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=mailroom test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    _openssl(
        openssl, "req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"
    )  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
    )
    _openssl(
        openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", "1",
        "-days", "1", "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    return TlsFiles(ca=ca, cert=cert, key=key)


def _openssl(openssl: str, *args: str | Path) -> None:
    done = subprocess.run(
        [openssl, *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed:\n{done.stderr}")
