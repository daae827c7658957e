"""A real TLS-terminating gRPC proxy in front of a test Temporal server: Debian's nginx
(`grpc_pass` over HTTP/2 with TLS), as a cluster's ingress or a cloud endpoint would be.

Certificates come from tests/dovecot_tls.py's throwaway CA; with `client_ca` the proxy
demands a client certificate signed by it (mTLS). One nginx process (`master_process off`),
in the foreground, stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.dovecot_tls import TlsFiles, _openssl, make_certificates, require_openssl
from tests.support import free_port, require_tool, wait_for_sync


@dataclass(frozen=True)
class ClientCertificate:
    cert: Path
    key: Path


def require_nginx() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return require_tool(
        found if os.access(found, os.X_OK) else None,
        "nginx not installed (apt-get install nginx): the Temporal TLS tests need it",
    )


def make_client_certificate(tls: TlsFiles, directory: Path) -> ClientCertificate:
    """A client certificate signed by the test CA (the CA's key lies beside its cert)."""
    openssl = require_openssl()
    key, csr, cert = (directory / name for name in ("client.key", "client.csr", "client.pem"))
    _openssl(
        openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=mailroom worker",
    )  # fmt: skip
    extensions = directory / "client.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = clientAuth\n"
    )
    _openssl(
        openssl, "x509", "-req", "-in", csr, "-CA", tls.ca, "-CAkey", tls.ca.with_name("ca.key"),
        "-set_serial", "2", "-days", "1", "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    return ClientCertificate(cert=cert, key=key)


NGINX_CONF = """\
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {client_auth}
        location / {{
            grpc_pass grpc://{upstream};
            grpc_read_timeout 300s;  # workers long-poll for a minute
            grpc_send_timeout 300s;
        }}
    }}
}}
"""


@contextmanager
def grpc_tls_proxy(
    root: Path, upstream: str, tls: TlsFiles, *, client_ca: Path | None = None
) -> Iterator[str]:
    """nginx on a free port, TLS in front and plaintext gRPC to `upstream`; yields its
    `127.0.0.1:port`."""
    nginx = require_nginx()
    root.mkdir(exist_ok=True)
    port = free_port()
    client_auth = f"ssl_client_certificate {client_ca}; ssl_verify_client on;" if client_ca else ""
    config = root / "nginx.conf"
    config.write_text(
        NGINX_CONF.format(
            root=root, port=port, cert=tls.cert, key=tls.key, upstream=upstream,
            client_auth=client_auth,
        )
    )  # fmt: skip
    log = (root / "stdout.log").open("ab")
    process = subprocess.Popen(
        [nginx, "-p", str(root), "-c", str(config), "-e", str(root / "error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_for_sync(lambda: _listening(process, root, port), timeout=15, what="nginx")
        yield f"127.0.0.1:{port}"
    finally:
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _listening(process: subprocess.Popen[bytes], root: Path, port: int) -> bool:
    if process.poll() is not None:
        log = (root / "error.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"nginx exited:\n{log}")
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def proxy_certificates(directory: Path) -> tuple[TlsFiles, ClientCertificate]:
    tls = make_certificates(directory)
    return tls, make_client_certificate(tls, directory)
