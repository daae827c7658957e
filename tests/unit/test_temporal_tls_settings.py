"""How mailroom decides to use TLS to Temporal, and the settings it refuses at start: an API
key is never sent in the clear off this machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from orchestrator.settings import Settings, SettingsError, load_settings, masked
from orchestrator.startup_checks import StartupError
from orchestrator.temporal_tls import connect_failure, loopback, tls_config, tls_enabled
from tests.dovecot_tls import make_certificates
from tests.grpc_tls_proxy import make_client_certificate

CLUSTER = "cluster.example.com:7233"


@pytest.fixture(autouse=True)
def no_mailroom_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("MAILROOM_")]:
        monkeypatch.delenv(name)


def settings(monkeypatch: pytest.MonkeyPatch, **env: str | Path) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"MAILROOM_{name.upper()}", str(value))
    return load_settings()


def test_an_api_key_alone_turns_tls_on(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(temporal_address=CLUSTER, temporal_api_key="key")
    assert tls_enabled(s) and tls_config(s) is True


def test_no_key_and_no_tls_setting_stays_plaintext() -> None:
    s = load_settings(temporal_address=CLUSTER)
    assert not tls_enabled(s) and tls_config(s) is False


def test_the_embedded_server_stays_plaintext_with_a_key() -> None:
    assert not tls_enabled(load_settings(temporal_api_key="key"))


def test_a_key_in_the_clear_to_another_host_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SettingsError) as error:
        settings(monkeypatch, temporal_address=CLUSTER, temporal_api_key="k", temporal_tls="false")
    message = str(error.value)
    assert message.startswith("MAILROOM_TEMPORAL_TLS: false would send MAILROOM_TEMPORAL_API_KEY")
    assert "in the clear" in message and "\n" not in message


@pytest.mark.parametrize("address", ["127.0.0.1:7233", "localhost:7233", "[::1]:7233"])
def test_a_key_without_tls_is_allowed_to_this_machine(address: str) -> None:
    s = load_settings(temporal_address=address, temporal_api_key="key", temporal_tls=False)
    assert not tls_enabled(s)


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.2:7233", True),
        ("10.0.0.1:7233", False),
        ("localhost.evil.com:1", False),
        ("", True),
    ],
)
def test_loopback_is_only_this_machine(address: str, local: bool) -> None:
    assert loopback(address) is local


def test_tls_files_turn_tls_on_and_are_refused_with_tls_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert tls_enabled(load_settings(temporal_address=CLUSTER, temporal_tls_ca=tmp_path / "ca"))
    with pytest.raises(SettingsError, match=r"^MAILROOM_TEMPORAL_TLS_CA: set, but"):
        settings(monkeypatch, temporal_address=CLUSTER, temporal_tls_ca="ca", temporal_tls="0")


def test_client_certificate_and_key_go_together(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"^MAILROOM_TEMPORAL_TLS_CERT: set it and"):
        settings(monkeypatch, temporal_address=CLUSTER, temporal_tls_key="client.key")


def test_tls_files_are_refused_for_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"^MAILROOM_TEMPORAL_TLS_CA: only for a cluster"):
        settings(monkeypatch, temporal_tls_ca="ca.pem")


def test_the_files_become_the_sdks_tls_config(tmp_path: Path) -> None:
    server = make_certificates(tmp_path)
    client = make_client_certificate(server, tmp_path)
    s = load_settings(
        temporal_address=CLUSTER,
        temporal_tls_ca=server.ca,
        temporal_tls_server_name="temporal.internal",
        temporal_tls_cert=client.cert,
        temporal_tls_key=client.key,
    )
    config = tls_config(s)
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == server.ca.read_bytes()
    assert config.domain == "temporal.internal"
    assert config.client_cert == client.cert.read_bytes()
    assert config.client_private_key == client.key.read_bytes()


def test_an_unreadable_ca_names_its_variable(tmp_path: Path) -> None:
    s = load_settings(temporal_address=CLUSTER, temporal_tls_ca=tmp_path / "missing.pem")
    with pytest.raises(StartupError, match=r"^MAILROOM_TEMPORAL_TLS_CA: cannot read .*missing"):
        tls_config(s)


def test_a_ca_file_without_a_certificate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    s = load_settings(temporal_address=CLUSTER, temporal_tls_ca=tmp_path / "ca.pem")
    with pytest.raises(StartupError, match=r"^MAILROOM_TEMPORAL_TLS_CA: .* no PEM certificate"):
        tls_config(s)


def test_a_client_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    server = make_certificates(tmp_path)
    client = make_client_certificate(server, tmp_path)
    s = load_settings(
        temporal_address=CLUSTER, temporal_tls_cert=client.cert, temporal_tls_key=server.key
    )
    with pytest.raises(StartupError, match=r"^MAILROOM_TEMPORAL_TLS_CERT: .* not a certificate"):
        tls_config(s)


def test_config_shows_tls_as_it_will_be_used_and_paths_only(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    shown = masked(
        load_settings(temporal_address=CLUSTER, temporal_api_key="k", temporal_tls_ca=ca)
    )
    assert shown["MAILROOM_TEMPORAL_TLS"] == "true"
    assert shown["MAILROOM_TEMPORAL_TLS_CA"] == str(ca)
    assert shown["MAILROOM_TEMPORAL_API_KEY"] == "********"


def test_an_untrusted_certificate_is_explained() -> None:
    s = load_settings(temporal_address=CLUSTER, temporal_tls=True)
    error = "Server connection error: ConnectError(InvalidCertificate(UnknownIssuer))"
    assert "MAILROOM_TEMPORAL_TLS_CA" in (connect_failure(s, error) or "")


def test_an_unknown_failure_is_left_to_the_caller() -> None:
    s = load_settings(temporal_address=CLUSTER)
    assert connect_failure(s, "Connection refused (os error 111)") is None


@pytest.mark.parametrize(
    "error",
    [
        'call error after connection: GoAway(b"", FRAME_SIZE_ERROR, Library)',
        'call error after connection: hyper::Error(Canceled, "connection closed")',
    ],
)
def test_plaintext_to_a_tls_endpoint_says_to_turn_tls_on(error: str) -> None:
    s = load_settings(temporal_address=CLUSTER)
    assert "MAILROOM_TEMPORAL_TLS=true" in (connect_failure(s, error) or "")
