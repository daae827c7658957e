from __future__ import annotations

import pytest

from use_cases.automatic import automatic_reason, classify, delivery_report
from use_cases.mail import InboundEmail, MessageKind


def mail(**fields: object) -> InboundEmail:
    return InboundEmail.model_validate({"message_id": "<m@x>", **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"auto_submitted": "auto-replied"},
        {"auto_submitted": "auto-generated; owner-email=x@y"},
        {"precedence": "bulk"},
        {"precedence": "List"},
        {"precedence": "junk"},
        {"return_path": "<>"},
        {"return_path": ""},
    ],
)
def test_automatic_mail_is_recognised(fields: dict[str, str]) -> None:
    assert automatic_reason(mail(**fields)) is not None


@pytest.mark.parametrize(
    "fields",
    [{}, {"auto_submitted": "no"}, {"precedence": "first-class"}, {"return_path": "<a@b>"}],
)
def test_human_mail_is_not_automatic(fields: dict[str, str]) -> None:
    assert automatic_reason(mail(**fields)) is None


def kind_of(**fields: object) -> MessageKind:
    return classify(mail(**fields), own_addresses=["support@mailroom.local"]).kind


@pytest.mark.parametrize(
    "fields",
    [
        {"auto_reply_headers": {"x-autoreply": "yes"}},
        {"auto_reply_headers": {"x-autorespond": "Out of office"}},
        {"auto_reply_headers": {"x-auto-response-suppress": "All"}},
        {"list_id": "<riak-users.lists.basho.com>"},
        {"auto_reply_headers": {"list-unsubscribe": "<https://shop.example/u/1>"}},
        {"subject": "Automatic reply: Printer on fire"},
        {"subject": "Abwesenheitsnotiz: Rechnung"},
        {"subject": "Out of Office: Printer on fire"},
    ],
)
def test_auto_replies_and_list_mail_are_auto_replies(fields: dict[str, object]) -> None:
    assert kind_of(**fields) is MessageKind.AUTO_REPLY


@pytest.mark.parametrize(
    "fields",
    [
        {"from_addr": "mailer-daemon@mx.example", "subject": "Undelivered Mail Returned to Sender"},
        {"from_addr": "postmaster@mx.example", "subject": "Delivery Status Notification (Failure)"},
        {"return_path": "<>", "subject": "Undeliverable: Printer on fire"},
        {"auto_reply_headers": {"x-failed-recipients": "bob@example.com"}},
        {"content_type": "multipart/report; report-type=delivery-status; boundary=x"},
    ],
)
def test_non_standard_bounces_are_bounces(fields: dict[str, object]) -> None:
    assert kind_of(**fields) is MessageKind.BOUNCE


def test_our_own_mail_coming_back_is_own() -> None:
    assert kind_of(x_loop=("support@mailroom.local",), subject="Re: x") is MessageKind.OWN
    assert kind_of(x_loop=("someone@else.example",)) is MessageKind.HUMAN


def test_human_subjects_that_merely_mention_absence_stay_human() -> None:
    for subject in ("Vacation plans for July", "Out of office supplies", "Re: delivery dates"):
        assert kind_of(subject=subject, from_addr="bob@example.com") is MessageKind.HUMAN


def test_a_bounce_text_yields_its_status_and_the_bounced_message_id() -> None:
    report = delivery_report(
        mail(
            from_addr="mailer-daemon@mx.example",
            subject="Mail delivery failed",
            text="550 5.1.1 <bob@x.example>: user unknown\n\nMessage-ID: <ack-1@mailroom.local>\n",
        )
    )
    assert (report.status, report.original_message_id) == ("5.1.1", "<ack-1@mailroom.local>")


def test_a_newsletter_with_list_unsubscribe_is_never_answered() -> None:
    from adapters.inbound.mime import parse_email

    raw = (
        b"From: news@shop.example\r\nTo: support@mailroom.local\r\nSubject: Deals\r\n"
        b"Message-ID: <n1@shop.example>\r\nList-Unsubscribe: <mailto:u@shop.example>\r\n\r\nhi\r\n"
    )
    assert kind_of(**parse_email(raw).model_dump(exclude={"contents"})) is MessageKind.AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Automatische Antwort: Rechnung 4711",
        "Réponse automatique : facture",
        "RESPUESTA AUTOMÁTICA: factura",
        "Risposta automatica: fattura",
        "Odpowiedź automatyczna: faktura",
        "Автоматический ответ: счёт",
        "自動応答: 請求書",
        "자동 회신: 청구서",
        "Arpus biroja atrasanas automatiska atbilde: rekins",  # Exchange 2003, no diacritics
        "[EXT] Automatic reply: Printer on fire",
        "AUTO: Jane Doe is out of the office (returning 05/03/2024)",
    ],
)
def test_localised_auto_reply_subjects_are_auto_replies(subject: str) -> None:
    assert kind_of(subject=subject, from_addr="kim@example.com") is MessageKind.AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Automatic reply: Printer on fire",
        "Frage zur automatischen Antwort",
        "Auto insurance quote",
        "Read: chapter 3 before Monday",
        "Undelivered parcel, order 991",
        "Complaint about message from your sales team",
    ],
)
def test_people_writing_about_such_things_stay_human(subject: str) -> None:
    assert kind_of(subject=subject, from_addr="kim@example.com") is MessageKind.HUMAN


@pytest.mark.parametrize(
    ("report_type", "reason"),
    [
        ("disposition-notification", "read receipt"),
        ("feedback-report", "feedback report"),
        ("tlsrpt", "report"),
    ],
)
def test_reports_other_than_delivery_status_are_never_answered(
    report_type: str, reason: str
) -> None:
    verdict = classify(mail(report_type=report_type, from_addr="kim@example.com"))
    assert verdict.kind is MessageKind.AUTO_REPLY and (verdict.reason or "").startswith(reason)


@pytest.mark.parametrize(
    "fields",
    [
        {"from_addr": "no-reply@accounts.example.com"},
        {"from_addr": "messages-noreply@social.example"},
        {"from_addr": "notifications@github.example"},
        {"return_path": "<list-bounces+support=mailroom.local@lists.example.org>"},
        {"return_path": "<3abc@gaia.bounces.example.com>"},
        {"to": ("gpc-talk-bounces@lists.example.org",)},
        {"auto_reply_headers": {"x-apple-action": "VACATION"}},
        {"auto_reply_headers": {"x-mailman-version": "2.1.39"}},
        {"subject": "complaint about message from 192.0.2.1"},
    ],
)
def test_notification_and_bulk_mail_is_never_answered(fields: dict[str, object]) -> None:
    assert kind_of(**fields) is MessageKind.AUTO_REPLY


@pytest.mark.parametrize(
    "fields",
    [
        {"from_addr": "norman.mailer@example.com"},
        {"return_path": "<bounces@esp.example>"},  # an ESP may relay a person's mail
        {"to": ("bob.bounce@example.com",)},
        {"auto_reply_headers": {"x-apple-action": "FORWARD"}},
    ],
)
def test_people_behind_look_alike_addresses_stay_human(fields: dict[str, object]) -> None:
    assert kind_of(**fields) is MessageKind.HUMAN


def test_a_daemon_s_notice_with_failed_recipients_is_a_bounce() -> None:
    fields = {"from_addr": "imss@gw.example", "from_name": "InterScan MSS"}
    assert kind_of(**fields, bounce_recipients=("bob@x.example",)) is MessageKind.BOUNCE
    assert kind_of(**fields) is MessageKind.HUMAN


def test_a_gateway_bounce_without_a_daemon_sender_needs_its_subject_and_recipients() -> None:
    failed = {"from_addr": "gateway@corp.example", "bounce_recipients": ("bob@x.example",)}
    assert kind_of(**failed, subject="Delivery failure notification") is MessageKind.BOUNCE
    # a person forwarding a bounce to ask about it is a person
    assert kind_of(**failed, subject="Fwd: Delivery failure notification") is MessageKind.HUMAN
    assert kind_of(subject="Delivery failure notification") is MessageKind.HUMAN


def test_the_report_of_a_non_standard_bounce_takes_the_detected_recipients() -> None:
    report = delivery_report(
        mail(
            from_addr="mailer-daemon@mx.example",
            subject="Warning: message has not yet been delivered",
            bounce_recipients=("bob@x.example",),
            bounce_delayed=True,
        )
    )
    assert (report.recipients, report.action) == (("bob@x.example",), "delayed")


@pytest.mark.parametrize(
    "text",
    [
        "<bob@x.example>: host mx.x.example said: 550 5.1.1 user unknown",
        "There was an error delivering your mail to <bob@x.example>.",
        "Delivery has failed to these recipients or groups:\n\nbob@x.example\n",
    ],
)
def test_the_failed_recipient_is_read_from_a_bounce_text(text: str) -> None:
    report = delivery_report(
        mail(from_addr="mailer-daemon@mx.example", to=("us@x.example",), text=text)
    )
    assert report.recipients == ("bob@x.example",)
