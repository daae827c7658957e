"""mailroom reaches a Temporal cluster through a real TLS-terminating gRPC proxy (nginx in
front of the dev server), as a cluster's ingress or a cloud endpoint would serve it: with
the cluster's CA, with a client certificate where mTLS is required, with an API key that
turns TLS on by itself; and says in one line what to set when it cannot connect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.bootstrap import connect
from tests.conftest import FIXTURES
from tests.dovecot_tls import TlsFiles
from tests.encryption import give_test_key
from tests.grpc_tls_proxy import ClientCertificate, grpc_tls_proxy, proxy_certificates
from tests.stack import acknowledgements, running_stack, stack_settings
from tests.support import run_mailroom, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[TlsFiles, ClientCertificate]:
    return proxy_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_proxy(
    dev_server: WorkflowEnvironment,
    certificates: tuple[TlsFiles, ClientCertificate],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    upstream = dev_server.client.service_client.config.target_host
    with grpc_tls_proxy(tmp_path_factory.mktemp("nginx"), upstream, certificates[0]) as at:
        yield at


@pytest.fixture(scope="module")
def mtls_proxy(
    dev_server: WorkflowEnvironment,
    certificates: tuple[TlsFiles, ClientCertificate],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    upstream = dev_server.client.service_client.config.target_host
    tls = certificates[0]
    root = tmp_path_factory.mktemp("nginx-mtls")
    with grpc_tls_proxy(root, upstream, tls, client_ca=tls.ca) as at:
        yield at


def cluster_env(tmp_path: Path, address: str, **settings: str | Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    given = {f"MAILROOM_{name.upper()}": str(value) for name, value in settings.items()}
    give_test_key(tmp_path / "data")  # the processes and the test's clients share one key
    return {
        **kept,
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        "MAILROOM_TEMPORAL_ADDRESS": address,
        **given,
    }


async def threads(env: dict[str, str]) -> tuple[int, str, str]:
    """`mailroom threads`: a command that must reach the cluster to answer."""
    return await run_mailroom("threads", env=env)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


async def test_mailroom_connects_through_tls_with_the_clusters_ca(
    tls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    tls = certificates[0]
    code, _, err = await threads(cluster_env(tmp_path, tls_proxy, temporal_tls_ca=tls.ca))
    assert code == 0, err


async def test_an_api_key_alone_turns_tls_on(
    tls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    # Before: MAILROOM_TEMPORAL_TLS defaulted to false, so the key went out in plaintext
    # and the TLS endpoint answered with a protocol error.
    env = cluster_env(
        tmp_path, tls_proxy, temporal_api_key="test-key", temporal_tls_ca=certificates[0].ca
    )
    code, _, err = await threads(env)
    assert code == 0, err


async def test_without_the_ca_the_untrusted_certificate_is_named_in_one_line(
    tls_proxy: str, tmp_path: Path
) -> None:
    code, _, err = await threads(cluster_env(tmp_path, tls_proxy, temporal_tls="true"))
    assert code == 2
    line = one_line(err)
    assert "does not trust" in line and "MAILROOM_TEMPORAL_TLS_CA" in line, line


async def test_plaintext_to_a_tls_endpoint_says_to_turn_tls_on(
    tls_proxy: str, tmp_path: Path
) -> None:
    code, _, err = await threads(cluster_env(tmp_path, tls_proxy))
    assert code == 2
    assert "MAILROOM_TEMPORAL_TLS=true" in one_line(err)


async def test_mtls_connects_with_the_client_certificate(
    mtls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    tls, client = certificates
    env = cluster_env(
        tmp_path,
        mtls_proxy,
        temporal_tls_ca=tls.ca,
        temporal_tls_cert=client.cert,
        temporal_tls_key=client.key,
    )
    code, _, err = await threads(env)
    assert code == 0, err


async def test_mtls_refuses_a_client_without_a_certificate_in_one_line(
    mtls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    env = cluster_env(tmp_path, mtls_proxy, temporal_tls_ca=certificates[0].ca)
    code, _, err = await threads(env)
    assert code == 2
    assert "MAILROOM_TEMPORAL_TLS_CERT" in one_line(err)


async def test_an_unreadable_client_key_is_named_before_connecting(
    mtls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    tls, client = certificates
    env = cluster_env(
        tmp_path,
        mtls_proxy,
        temporal_tls_ca=tls.ca,
        temporal_tls_cert=client.cert,
        temporal_tls_key=tmp_path / "missing.key",
    )
    code, _, err = await threads(env)
    assert code == 2
    assert one_line(err).startswith("mailroom: MAILROOM_TEMPORAL_TLS_KEY: cannot read")


async def test_doctor_reports_the_tls_in_use(
    mtls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    tls, client = certificates
    env = cluster_env(
        tmp_path,
        mtls_proxy,
        temporal_tls_ca=tls.ca,
        temporal_tls_cert=client.cert,
        temporal_tls_key=client.key,
    )
    _, out, _ = await run_mailroom("doctor", env=env)
    lines = out.splitlines()
    assert any(line.startswith("ok   temporal: reached") for line in lines), out
    assert f"ok   tls: verified against the CA in {tls.ca}, client certificate" in lines, out


async def test_doctor_says_which_tls_setting_is_missing(
    mtls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    env = cluster_env(tmp_path, mtls_proxy, temporal_tls_ca=certificates[0].ca)
    code, out, _ = await run_mailroom("doctor", env=env)
    assert code == 1
    temporal = next(line for line in out.splitlines() if line.startswith("fail temporal:"))
    assert "MAILROOM_TEMPORAL_TLS_CERT" in temporal
    assert "fail tls: not established" in out


async def test_mail_is_answered_by_a_worker_and_adapter_connected_over_mtls(
    dev_server: WorkflowEnvironment,
    mtls_proxy: str,
    certificates: tuple[TlsFiles, ClientCertificate],
    tmp_path: Path,
    task_queue: str,
    unique: str,
) -> None:
    tls, client_files = certificates
    settings = stack_settings(tmp_path, dev_server.client, task_queue).model_copy(
        update={
            "temporal_address": mtls_proxy,
            "temporal_tls_ca": tls.ca,
            "temporal_tls_cert": client_files.cert,
            "temporal_tls_key": client_files.key,
        }
    )
    client = await connect(settings)  # the worker long-polls and SMTP hands off through nginx
    raw = (FIXTURES / "support_question.eml").read_bytes()
    raw = raw.replace(b"<question-1@", f"<question-1-{unique}@".encode())
    async with running_stack(client, settings) as stack:
        await stack.send(raw, ["support@mailroom.local"])
        acks = await wait_for(lambda: acknowledgements(stack), what="the acknowledgement")
    assert acks[0].in_reply_to == f"<question-1-{unique}@example.com>"


async def test_the_server_name_is_the_one_checked_in_the_certificate(
    tls_proxy: str, certificates: tuple[TlsFiles, ClientCertificate], tmp_path: Path
) -> None:
    ca = certificates[0].ca  # the proxy's certificate is for localhost and 127.0.0.1
    named = cluster_env(
        tmp_path, tls_proxy, temporal_tls_ca=ca, temporal_tls_server_name="localhost"
    )
    code, _, err = await threads(named)
    assert code == 0, err
    other = {**named, "MAILROOM_TEMPORAL_TLS_SERVER_NAME": "temporal.example.com"}
    code, _, err = await threads(other)
    assert code == 2
    assert "MAILROOM_TEMPORAL_TLS_SERVER_NAME" in one_line(err)
