"""Machine mail is never answered: bounces, feedback reports, auto-replies, read receipts, list
and notification mail, on the corpus of real samples in tests/fixtures/machine-mail (sources and
licences in its README.md) and the machine mail of tests/fixtures/corpus; people's mail, there
and in the corpus, is still answered.

`pytest -s` prints the figures: answered / total per class, real and project-written samples
(`synthetic/`) apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.inbound import mime_body
from adapters.inbound.mime import parse_email
from tests.conftest import CORPUS, FIXTURES
from tests.unit.test_real_world_mail import DSN_FILES
from use_cases.automatic import classify, delivery_report
from use_cases.mail import MessageKind

MACHINE_MAIL = FIXTURES / "machine-mail"
CLASSES = ("bounce", "arf", "auto-reply", "receipt", "list-notification")
NOT_MAIL = {"LICENSE", "README.md"}
# Machine mail that tests/fixtures/corpus already holds.
CORPUS_MACHINE = {
    "bounce": DSN_FILES,  # the delivery reports test_real_world_mail reads
    "list-notification": [
        "mail-parser/mail_test_5",
        "mail-parser/mail_test_6",
        "mail-parser/mail_test_13",
        "ruby-mail/error_emails/empty_in_reply_to.eml",
        "ruby-mail/error_emails/bad_date_header2.eml",
        "ruby-mail/error_emails/content_transfer_encoding_7-bit.eml",
        "ruby-mail/error_emails/encoding_madness.eml",
        "ruby-mail/mime_emails/raw_email_encoded_stack_level_too_deep.eml",
        "ruby-mail/plain_emails/raw_email_trailing_dot.eml",
        "ruby-mail/plain_emails/raw_email_multiple_from.eml",
    ],
}
# People's mail in tests/fixtures/corpus (its spam and commercial bulk mail is in neither set).
CORPUS_HUMAN = [
    "reply-parser/*.txt",
    "ruby-mail/attachment_emails/*.eml",
    "ruby-mail/multi_charset/*.eml",
    "ruby-mail/rfc2822/*.eml",
    "ruby-mail/rfc6532/*.eml",
    "ruby-mail/mime_emails/email_with_similar_boundaries.eml",
    "ruby-mail/mime_emails/raw_email12.eml",
    "ruby-mail/mime_emails/raw_email2.eml",
    "ruby-mail/mime_emails/raw_email7.eml",
    "ruby-mail/mime_emails/raw_email_with_*.eml",
    "ruby-mail/mime_emails/sig_only_email.eml",
    "ruby-mail/mime_emails/two_from_in_message.eml",
    "ruby-mail/plain_emails/basic_email*.eml",
    "ruby-mail/plain_emails/mix_caps_content_type.eml",
    "ruby-mail/plain_emails/raw_email.eml",
    "ruby-mail/plain_emails/raw_email[0-9]*.eml",
    "ruby-mail/plain_emails/raw_email_double_at_in_header.eml",
    "ruby-mail/plain_emails/raw_email_quoted_with_0d0a.eml",
    "ruby-mail/plain_emails/raw_email_reply.eml",
    "ruby-mail/plain_emails/raw_email_simple.eml",
    "ruby-mail/plain_emails/raw_email_string_in_date_field.eml",
    "ruby-mail/plain_emails/raw_email_with_*.eml",
    "ruby-mail/error_emails/content_transfer_encoding_x_uuencode.eml",
    "ruby-mail/error_emails/header_fields_with_empty_values.eml",
    "ruby-mail/error_emails/missing_content_disposition.eml",
    "ruby-mail/error_emails/multiple_*.eml",
    "mail-parser/mail_outlook_1",
    "mail-parser/mail_test_1[489]",
]
CORPUS_SPAM = {
    "ruby-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml",  # a bounce
    "ruby-mail/plain_emails/raw_email_with_bad_date.eml",
}
MAX_ANSWERED = 0.005  # the bar: at most 0.5 % of machine mail answered


@dataclass(frozen=True)
class Sample:
    path: Path
    cls: str

    @property
    def name(self) -> str:
        base = MACHINE_MAIL if self.path.is_relative_to(MACHINE_MAIL) else CORPUS
        return str(self.path.relative_to(base.parent))

    @property
    def synthetic(self) -> bool:
        return "synthetic" in self.path.parts


def mail_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in NOT_MAIL)


def machine_samples() -> list[Sample]:
    found = [Sample(p, cls) for cls in CLASSES for p in mail_in(MACHINE_MAIL / cls)]
    found += [Sample(CORPUS / n, cls) for cls, names in CORPUS_MACHINE.items() for n in names]
    return found


def human_samples() -> list[Sample]:
    corpus = {p for pattern in CORPUS_HUMAN for p in CORPUS.glob(pattern)}
    corpus = {p for p in corpus if str(p.relative_to(CORPUS)) not in CORPUS_SPAM}
    return [Sample(p, "human") for p in [*mail_in(MACHINE_MAIL / "human"), *sorted(corpus)]]


def answered(sample: Sample) -> bool:
    return classify(parse_email(sample.path.read_bytes())).kind is MessageKind.HUMAN


def figures(samples: list[Sample]) -> tuple[Counter[str], Counter[str]]:
    total: Counter[str] = Counter()
    replied: Counter[str] = Counter()
    for sample in samples:
        key = f"{sample.cls}{' (synthetic)' if sample.synthetic else ''}"
        total[key] += 1
        replied[key] += answered(sample)
    return total, replied


def test_the_corpus_is_broad() -> None:
    samples = machine_samples()
    real = Counter(s.cls for s in samples if not s.synthetic)
    assert len(samples) >= 500 and real["bounce"] >= 400
    assert all(real[cls] for cls in CLASSES)
    assert len(human_samples()) >= 120
    for folder in {p.parent for p in mail_in(MACHINE_MAIL)}:
        assert (folder / "LICENSE").is_file(), f"{folder} has no LICENSE"


def test_machine_mail_is_not_answered() -> None:
    samples = machine_samples()
    total, replied = figures(samples)
    print(f"\n{'class':32} answered / total")
    for key in sorted(total):
        print(f"{key:32} {replied[key]:8} / {total[key]}")
    missed = [s.name for s in samples if answered(s)]
    print(f"{'machine mail':32} {len(missed):8} / {len(samples)}", *missed, sep="\n  ")
    assert len(missed) <= MAX_ANSWERED * len(samples), missed
    real = [s for s in samples if not s.synthetic]
    assert sum(answered(s) for s in real) <= MAX_ANSWERED * len(real)


def test_every_human_mail_is_still_answered() -> None:
    samples = human_samples()
    wrong = {s.name: classify(parse_email(s.path.read_bytes())).reason for s in samples}
    wrong = {name: reason for name, reason in wrong.items() if reason is not None}
    print(f"\nhuman mail answered: {len(samples) - len(wrong)} / {len(samples)}")
    assert not wrong


def test_bounces_name_their_failed_recipients() -> None:
    samples = [s for s in machine_samples() if s.cls == "bounce"]
    reports = [delivery_report(parse_email(s.path.read_bytes())) for s in samples]
    named = sum(bool(r.recipients) for r in reports)
    print(f"\nbounces naming the failed recipient: {named} / {len(samples)}")
    assert named >= 0.95 * len(samples)
    assert all("@" in a and a == a.lower() for r in reports for a in r.recipients)


@pytest.mark.parametrize(
    ("name", "recipient"),
    [  # non-standard formats, read by flufl.bounce's detectors
        ("flufl-bounce/qmail_01.txt", "userx@example.de"),
        ("flufl-bounce/yahoo_04.txt", "usery@example.uk"),
        ("flufl-bounce/exim_01.txt", "userx@its.example.nl"),
        ("flufl-bounce/simple_12.txt", "userx@example.ac.jp"),
        ("flufl-bounce/groupwise_01.txt", "userx@example.edu"),
        ("php-bounce-handler/1.eml", None),
    ],
)
def test_a_non_standard_bounce_is_a_bounce_with_its_recipient(
    name: str, recipient: str | None
) -> None:
    email = parse_email((MACHINE_MAIL / "bounce" / name).read_bytes())
    assert classify(email).kind is MessageKind.BOUNCE
    recipients = delivery_report(email).recipients
    assert recipient in recipients if recipient else recipients


def test_a_delay_warning_without_a_report_is_a_delayed_bounce() -> None:
    email = parse_email((MACHINE_MAIL / "bounce/flufl-bounce/simple_21.txt").read_bytes())
    report = delivery_report(email)
    assert classify(email).kind is MessageKind.BOUNCE
    assert (report.action, report.recipients) == ("delayed", ("userx@example.com",))


def test_a_bounce_detector_that_raises_leaves_a_defect_and_the_bounce_a_bounce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(msg: object) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(mime_body, "all_failures", broken)
    email = parse_email((MACHINE_MAIL / "bounce/flufl-bounce/qmail_01.txt").read_bytes())
    assert email.bounce_recipients == ()
    assert any("bounce detectors failed" in d for d in email.defects)
    assert classify(email).kind is MessageKind.BOUNCE


def test_a_mail_with_a_leading_blank_line_or_byte_order_mark_keeps_its_header() -> None:
    for name in ("bounce/php-bounce-handler/exchange1.eml", "arf/mimekit/feedback-report.txt"):
        email = parse_email((MACHINE_MAIL / name).read_bytes())
        assert email.subject and email.report_type, name
