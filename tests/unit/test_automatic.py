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
