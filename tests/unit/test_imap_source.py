"""IMAP source URLs, their masking in settings, the durable checkpoint, and batch sizing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapters.inbound.imap_batches import batches_by_size
from adapters.inbound.imap_checkpoint import Checkpoint, SqliteCheckpointStore
from adapters.inbound.imap_source import After, SourceError, Tls, masked_url, parse_source
from orchestrator.settings import Settings, SettingsError, load_settings, masked

EXAMPLE = (
    "imaps://support%40corp.example:secret@imap.corp.example/INBOX"
    "?mailbox=support@mailroom.local&after=move:Processed"
)
# A self-signed CA certificate (its key thrown away): a loadable `ca_file=`.
CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUYJvGE9UqmTnk9qh587kv3HQD+vQwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVbWFpbHJvb20gdW5pdC10ZXN0IENBMCAXDTI2MTEyMjA0MzU1
OFoYDzIxMjYxMDI5MDQzNTU4WjAgMR4wHAYDVQQDDBVtYWlscm9vbSB1bml0LXRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQke4O33bq0BBY4pYa+CqwF
FB+bV6DmRFE0Dfpx0RcT0XK68WEKEdoqRw/XsUwTh9TBUM/YlrHC4r/LtKBaQMKu
o1MwUTAdBgNVHQ4EFgQUI8WUtaOAOhN1swfSsVnTI/zyf4owHwYDVR0jBBgwFoAU
I8WUtaOAOhN1swfSsVnTI/zyf4owDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAso4z6NoOdUtbxKoS6oIJ3Rqtu19+oOFgp8O9Gz/kNvECIEKzMYSd
8AWWMHsHo2Oz4/P4KrUAgJP23Xha4rwrPzym
-----END CERTIFICATE-----
"""


def test_issue_example_is_implicit_tls_with_decoded_user_and_move_folder() -> None:
    source = parse_source(EXAMPLE)
    assert (source.host, source.port, source.tls) == ("imap.corp.example", 993, Tls.IMPLICIT)
    assert (source.username, source.password) == ("support@corp.example", "secret")
    assert source.folder == "INBOX"
    assert source.mailbox == "support@mailroom.local"
    assert (source.after, source.move_to) == (After.MOVE, "Processed")
    assert source.key == "support@corp.example@imap.corp.example:993/INBOX"


def test_imap_scheme_is_starttls_and_tls_off_is_plain() -> None:
    starttls = parse_source("imap://u:p@mail.example/?mailbox=a@b")
    assert (starttls.tls, starttls.port, starttls.folder) == (Tls.STARTTLS, 143, "INBOX")
    plain = parse_source("imap://u:p@127.0.0.1:1143/Support%20Desk?tls=off&mailbox=a@b")
    assert (plain.tls, plain.port, plain.folder) == (Tls.OFF, 1143, "Support Desk")


def test_defaults_mark_after_hand_off_and_start_at_new_mail_with_idle() -> None:
    source = parse_source("imaps://u:p@h/?mailbox=a@b")
    assert (source.after, source.start, source.idle, source.start_date) == (
        After.MARK,
        "new",
        True,
        None,
    )


@pytest.mark.parametrize(
    ("start", "expected", "as_date"),
    [("all", "all", None), ("NEW", "new", None), ("2024-03-01", "2024-03-01", date(2024, 3, 1))],
)
def test_start_is_all_new_or_a_date(start: str, expected: str, as_date: date | None) -> None:
    source = parse_source(f"imaps://u:p@h/?start={start}")
    assert (source.start, source.start_date) == (expected, as_date)


def test_xoauth2_takes_its_token_from_a_named_variable_not_the_url() -> None:
    source = parse_source("imaps://me%40gmail.com@imap.gmail.com/?auth=xoauth2&token_env=TOKEN")
    assert (source.auth, source.token_env, source.password) == ("xoauth2", "TOKEN", "")


def test_polling_interval_and_idle_off_are_configurable() -> None:
    source = parse_source("imaps://u:p@h/?poll=2.5&idle=off")
    assert (source.poll_seconds, source.idle) == (2.5, False)


def test_ca_file_names_an_existing_pem_bundle_for_tls(tmp_path: Path) -> None:
    ca = tmp_path / "corp ca.pem"
    ca.write_text(CA_PEM)
    source = parse_source(f"imaps://u:p@h/?ca_file={ca}&mailbox=a@b")
    assert source.ca_file == str(ca)
    starttls = parse_source(f"imap://u:p@h/?ca_file={str(ca).replace(' ', '%20')}")
    assert (starttls.tls, starttls.ca_file) == (Tls.STARTTLS, str(ca))
    assert parse_source("imaps://u:p@h/").ca_file is None  # the system's CAs


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("missing.pem", "does not exist"),
        ("", "is not a file"),  # the directory itself
        ("not-a-cert.pem", "is not a readable PEM CA bundle"),
    ],
)
def test_ca_file_that_cannot_work_is_refused_naming_the_file(
    tmp_path: Path, name: str, complaint: str
) -> None:
    (tmp_path / "not-a-cert.pem").write_text("hello\n")
    path = tmp_path / name
    with pytest.raises(SourceError) as raised:
        parse_source(f"imaps://u:secret@h/?ca_file={path}")
    assert complaint in str(raised.value) and str(path) in str(raised.value)
    assert "secret" not in str(raised.value)


def test_ca_file_needs_tls_and_a_path(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)
    with pytest.raises(SourceError, match="ca_file needs TLS"):
        parse_source(f"imap://u:p@h/?tls=off&ca_file={ca}")
    with pytest.raises(SourceError, match="ca_file is empty"):
        parse_source("imaps://u:p@h/?ca_file=")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("pop3://u:p@h/", "scheme"),
        ("imaps:///INBOX", "no host"),
        ("imaps://h/", "no user name"),
        ("imaps://u:secret@h/?tls=off", "imaps:// is always TLS"),
        ("imaps://u:secret@h/?after=move", "needs a folder"),
        ("imaps://u:secret@h/?after=delete", "after must be"),
        ("imaps://u:secret@h/?start=yesterday", "start must be"),
        ("imaps://u:secret@h/?auth=xoauth2", "token_env"),
        ("imaps://u:secret@h/?auth=kerberos", "auth must be"),
        ("imaps://u:secret@h/?poll=0", "poll must be"),
        ("imaps://u:secret@h/?folder=INBOX", "unknown parameter 'folder'"),
        ("imaps://u:secret@h:99999/", "bad port"),
    ],
)
def test_bad_urls_are_refused_naming_the_problem_without_the_password(
    url: str, complaint: str
) -> None:
    with pytest.raises(SourceError) as raised:
        parse_source(url)
    assert complaint in str(raised.value)
    assert "secret" not in str(raised.value)


def test_masked_url_hides_only_the_password() -> None:
    assert masked_url(EXAMPLE) == (
        "imaps://support%40corp.example:********@imap.corp.example/INBOX"
        "?mailbox=support@mailroom.local&after=move:Processed"
    )
    assert masked_url("imaps://u@h/?auth=xoauth2&token_env=T") == (
        "imaps://u@h/?auth=xoauth2&token_env=T"
    )


@pytest.mark.parametrize(
    "url",
    [
        "imap://u@h/?mailbox=a@mailroom.local&token=S3cretPW",
        "imap://u:p@h/INBOX?token=S3cretPW",
        "imaps://u@h/?mailbox=a@mailroom.local&start=bad&x=S3cretPW",
        "imap://u@h/?mailbox=a@mailroom.local#S3cretPW",
        "imap://u:p@h:S3cretPW/",
        "imap://h/?token=S3cretPW",
    ],
)
def test_an_error_about_a_source_never_shows_a_value_it_does_not_know(url: str) -> None:
    with pytest.raises(SourceError) as raised:
        parse_source(url)
    assert "S3cretPW" not in str(raised.value)
    assert str(raised.value).startswith(url.partition("://")[0] + "://********")


def test_settings_split_sources_on_commas_keep_their_case_and_mask_passwords() -> None:
    second = "imap://Other:PassWord@h2/Tickets?tls=off&mailbox=procurement@mailroom.local"
    settings = Settings(
        mailboxes=["support@mailroom.local", "procurement@mailroom.local"],
        imap_sources=f"{EXAMPLE}, {second}",  # as from the env
    )
    assert settings.imap_sources == [EXAMPLE, second]
    shown = masked(settings)["MAILROOM_IMAP_SOURCES"]
    assert "secret" not in shown and "PassWord" not in shown
    assert shown.count(":********@") == 2


def test_settings_refuse_a_bad_source_or_a_mailbox_that_is_not_ours() -> None:
    with pytest.raises(SettingsError, match=r"MAILROOM_IMAP_SOURCES: .*after must be") as bad:
        load_settings(imap_sources=["imaps://u:secret@h/?after=shred&mailbox=a@mailroom.local"])
    assert "secret" not in str(bad.value)
    with pytest.raises(SettingsError, match=r"MAILROOM_IMAP_SOURCES: .*mailbox= must name"):
        load_settings(imap_sources=["imaps://u:secret@h/?mailbox=help@elsewhere.example"])
    with pytest.raises(SettingsError, match="mailbox= must name"):
        load_settings(imap_sources=["imaps://u:secret@h/"])


def test_checkpoint_is_durable_per_source_and_replaced_on_save(tmp_path: Path) -> None:
    path = tmp_path / "data" / "imap.sqlite"
    store = SqliteCheckpointStore(path)
    assert store.load("a") is None
    store.save("a", Checkpoint(uidvalidity=7, last_uid=10))
    store.save("b", Checkpoint(uidvalidity=9, last_uid=1))
    store.save("a", Checkpoint(uidvalidity=8, last_uid=0))  # UIDVALIDITY changed: rescan
    reopened = SqliteCheckpointStore(path)  # as after a restart
    assert reopened.load("a") == Checkpoint(uidvalidity=8, last_uid=0)
    assert reopened.load("b") == Checkpoint(uidvalidity=9, last_uid=1)


def test_batches_are_bounded_in_bytes_and_a_big_mail_goes_alone() -> None:
    sizes = {1: 40, 2: 40, 3: 500, 4: 10, 5: 10}
    assert list(batches_by_size([1, 2, 3, 4, 5], sizes, 100)) == [[1, 2], [3], [4, 5]]
