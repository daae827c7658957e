"""The pure rules behind people answering support threads (issue 20)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from orchestrator.cli import build_parser
from orchestrator.cli_errors import CliError
from orchestrator.cli_reply import _text
from orchestrator.startup_checks import warn_without_support_team
from use_cases.flows import KbAnswer, answer_keys, fresh_text, says_not_helped, team_addresses
from use_cases.human_replies import human_reply_id
from use_cases.models import NewMessage

THREAD = "thread-support@mailroom.local-0123456789abcdef"


def mail(text: str, new_text: str = "") -> NewMessage:
    return NewMessage(
        mailbox="support@mailroom.local",
        message_id="<m@example.com>",
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        text=text,
        new_text=new_text,
    )


@pytest.mark.parametrize(
    "text",
    [
        "That did not help.",
        "Sorry, didn\u2019t work",
        "I still cannot log in",
        "Das hat nicht geholfen.",
        "Der Login funktioniert immer noch nicht",
        "It doesn't work",
    ],
)
def test_a_follow_up_saying_the_answer_did_not_help_is_recognised(text: str) -> None:
    assert says_not_helped(mail(text))


def test_thanks_and_quoted_complaints_are_not_a_complaint() -> None:
    assert not says_not_helped(mail("Thanks, I will try that."))
    assert not says_not_helped(mail("Great, thanks!\n\nOn Monday Alice wrote:\n> still broken"))


def test_the_new_text_is_what_the_sender_wrote_above_the_quote() -> None:
    assert fresh_text(mail("Switch it off.\n\nOn Mon, Bob wrote:\n> noise\n")) == "Switch it off."
    assert fresh_text(mail("whole text", new_text="just this")) == "just this"


def test_the_support_team_is_one_address_or_several_comma_separated() -> None:
    assert team_addresses("team@corp.example") == ("team@corp.example",)
    assert team_addresses(" Ann@corp.example, bob@corp.example,,ann@corp.example") == (
        "ann@corp.example",
        "bob@corp.example",
    )
    assert team_addresses("") == ()


def test_an_answer_is_the_same_by_its_article_or_its_text() -> None:
    one = KbAnswer(answer="Reset it.", article="password-reset", confidence=1)
    assert set(answer_keys(one)) & set(answer_keys(one.model_copy(update={"answer": "Other"})))
    assert set(answer_keys(one)) & set(answer_keys(KbAnswer(answer=" Reset it. ")))
    assert not set(answer_keys(one)) & set(answer_keys(KbAnswer(answer="Something else")))


def test_a_reply_run_again_has_the_same_message_id() -> None:
    first = human_reply_id(THREAD, "We come at nine.\n", "ops")
    assert first == human_reply_id(THREAD, "We come at nine.\n", "ops")
    assert first.endswith("@mailroom.local>")
    assert first != human_reply_id(THREAD, "We come at ten.\n", "ops")
    assert first != human_reply_id(THREAD, "We come at nine.\n", "ann")


def test_the_same_words_to_a_newer_mail_are_a_new_reply() -> None:
    thanks = human_reply_id(THREAD, "Thanks!\n", "ops", after="<m1@example.com>")
    assert thanks == human_reply_id(THREAD, "Thanks!\n", "ops", after="<m1@example.com>")
    assert thanks != human_reply_id(THREAD, "Thanks!\n", "ops", after="<m7@example.com>")


def test_mailroom_reply_needs_a_body_or_a_file_and_refuses_an_empty_one() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reply", THREAD])
    args = build_parser().parse_args(["reply", THREAD, "--body", "  ", "--close"])
    assert args.close and args.by is None
    with pytest.raises(CliError, match="empty"):
        _text(args)
    assert _text(argparse.Namespace(body="Hello", file=None)) == "Hello\n"


def test_up_warns_when_no_support_team_would_hear_of_escalations() -> None:
    with capture_logs() as logs:
        assert warn_without_support_team("")
        assert not warn_without_support_team("team@corp.example")
    assert [e["event"] for e in logs] == ["support_team_not_set"]
    assert "mailroom threads --stage escalated" in logs[0]["hint"]
