"""The offline support agent answers support mail from its knowledge base: the right article
or a person, measured over a table of real-looking mails (bench/support_answers.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.agents.knowledge import load_knowledge_base
from adapters.agents.rules import RuleBasedAgent
from bench.support_answers import ESCALATE, evaluate, load_table
from use_cases.flows import ClassifyRequest, KbAnswer
from use_cases.models import FlowConfig

THRESHOLD = FlowConfig().kb_confidence  # what the support flow applies
# Measured 1.0 / 1.0 on the 142 mails of the table (docs/agents.md); one wrong answer more
# is 0.989. Precision matters most: a wrong answer is worse than a person answering.
PRECISION_FLOOR = 0.98
RECALL_FLOOR = 0.95
# The reviewer's 31 mails (tests/fixtures/support_answers_heldout.toml) measured 0.90 / 0.90
# before any tuning on them, 1.0 / 1.0 after fixing the defects they revealed (docs/agents.md):
# no longer held out, a regression floor like the main table.
HELDOUT = Path(__file__).parents[1] / "fixtures" / "support_answers_heldout.toml"
HELDOUT_PRECISION_FLOOR = 0.98
HELDOUT_RECALL_FLOOR = 0.95


def ask(subject: str, text: str) -> ClassifyRequest:
    return ClassifyRequest(mailbox="support@mailroom.local", subject=subject, text=text)


async def test_the_agent_answers_the_evaluation_table_with_the_right_articles() -> None:
    scores = await evaluate(RuleBasedAgent(), load_table(), THRESHOLD)
    misses = [(o.mail.subject, o.mail.expected, o.answered) for o in scores.misses]
    assert scores.precision >= PRECISION_FLOOR, misses
    assert scores.recall >= RECALL_FLOOR, misses


async def test_the_reviewers_mails_are_answered_with_the_right_articles() -> None:
    scores = await evaluate(RuleBasedAgent(), load_table(HELDOUT), THRESHOLD)
    misses = [(o.mail.subject, o.mail.expected, o.answered) for o in scores.misses]
    assert scores.precision >= HELDOUT_PRECISION_FLOOR, misses
    assert scores.recall >= HELDOUT_RECALL_FLOOR, misses


def test_the_table_is_large_varied_and_names_only_shipped_articles() -> None:
    table = load_table()
    shipped = {a.id for a in load_knowledge_base()}
    expected = {m.expected for m in table}
    assert len(table) >= 60 and expected - {ESCALATE} <= shipped
    assert sum(m.expected == ESCALATE for m in table) >= 20  # follow-ups, vague, uncovered
    assert shipped <= expected  # every article is asked for at least once


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Re: Forgot my password", "That did not help, I still cannot log in."),
        ("AW: Passwort vergessen", "Hat leider nicht geholfen."),
        ("Re: Invoice copy", "Got it, thank you!"),
        ("Re: Printer on fire", "Your answer is useless, I want to speak to a human."),
    ],
)
async def test_a_reply_about_an_earlier_answer_goes_to_a_person(subject: str, text: str) -> None:
    answer = await RuleBasedAgent().answer_from_kb(ask(subject, text))
    assert answer.confidence < THRESHOLD


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Feature request", "The app never crashes, great work. Do you have an Android widget?"),
        ("Praise", "Your refund process was great last time. Do you ship to Norway?"),
        ("Widget", "Since the update the app hasn't crashed once. Is there a widget?"),
        ("Frage", "Die App ist seit dem Update nie abgestürzt. Gibt es einen Dark Mode?"),
        ("Question", "No problems with refunds so far. Can I pay by bank transfer in Norway?"),
        ("Question", "L'application ne plante jamais, bravo. Avez-vous un widget?"),
    ],
)
async def test_a_topic_named_only_as_praise_gets_no_article(subject: str, text: str) -> None:
    answer = await RuleBasedAgent().answer_from_kb(ask(subject, text))
    assert answer.confidence < THRESHOLD, answer.article


@pytest.mark.parametrize(
    ("subject", "text", "article"),
    [
        ("Help", "I forgot my password and the reset email never arrives.", "password-reset"),
        ("App", "The app crashes every time I open it since the update.", "app-crash"),
        ("App", "The app keeps crashing, it never starts at all.", "app-crash"),
    ],
)
async def test_a_complaint_with_a_negation_is_still_answered(
    subject: str, text: str, article: str
) -> None:
    answer = await RuleBasedAgent().answer_from_kb(ask(subject, text))
    assert (answer.article, answer.confidence >= THRESHOLD) == (article, True)


async def test_our_quoted_answer_does_not_count_in_a_follow_up() -> None:
    quoted = (
        "\n\nOn Tue, 3 Dec 2024 at 09:00, Support <support@mailroom.local> wrote:\n"
        "> To reset your password, open the sign-in page and choose Forgot password.\n"
        "> We email you a reset link that is valid for one hour."
    )
    thanks = ask("Re: Your request", "Thanks, all good now." + quoted)
    new_question = ask(
        "Re: Your request", "One more thing: can you send me my invoice again?" + quoted
    )
    assert (await RuleBasedAgent().answer_from_kb(thanks)).confidence < THRESHOLD
    answer = await RuleBasedAgent().answer_from_kb(new_question)
    assert (answer.article, answer.confidence >= THRESHOLD) == ("invoice-copy", True)


@pytest.mark.parametrize(
    "text",
    [
        "I followed your instructions but the reset link has expired, every time.\n\n"
        "> To reset your password, open the sign-in page.",
        "This is the third time I am writing: the reset link has expired.",
        "Ich habe Ihre Anleitung befolgt, aber der Reset-Link ist abgelaufen.",
    ],
)
async def test_a_mail_saying_it_followed_our_instructions_goes_to_a_person(text: str) -> None:
    answer = await RuleBasedAgent().answer_from_kb(ask("Re: Your request: password reset", text))
    assert answer.confidence < THRESHOLD


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        (
            "Remboursement",
            "J'ai annulé ma commande il y a une semaine mais je n'ai toujours pas reçu le "
            "remboursement. Quand vais-je être remboursé ?",
        ),
        ("Erstattung", "Ich habe storniert, aber die Erstattung immer noch nicht erhalten."),
        ("Refund", "I cancelled my order but I still have not received the refund."),
    ],
)
async def test_a_first_mail_still_waiting_for_a_refund_is_answered(subject: str, text: str) -> None:
    answer = await RuleBasedAgent().answer_from_kb(ask(subject, text))
    assert (answer.article, answer.confidence >= THRESHOLD) == ("refund", True)


async def test_a_thank_you_for_an_earlier_answer_is_no_question_about_it() -> None:
    text = (
        "Thanks for the tracking link. One more thing: I need a copy of the invoice for this "
        "order for my expense report - can you send it?"
    )
    answer = await RuleBasedAgent().answer_from_kb(ask("Re: Your order 4471", text))
    assert (answer.article, answer.confidence >= THRESHOLD) == ("invoice-copy", True)


@pytest.mark.parametrize(
    "text", ["1" * 200_000, "a " * 100_000, "was great " * 20_000, "> quoted\n" * 20_000]
)
async def test_a_huge_or_hostile_mail_is_scored_in_bounded_time(text: str) -> None:
    started = time.perf_counter()
    await RuleBasedAgent().answer_from_kb(ask("Help", text))
    assert time.perf_counter() - started < 5  # a praise pattern rescanning one long word hung


async def test_a_mail_asking_two_things_goes_to_a_person() -> None:
    question = ask("Cancel", "Please cancel my subscription and refund me the last month.")
    assert (await RuleBasedAgent().answer_from_kb(question)).confidence < THRESHOLD


async def test_words_match_across_case_accents_endings_and_compounds() -> None:
    agent = RuleBasedAgent()
    crash = await agent.answer_from_kb(ask("APP CRASHED", "The app crashed when starting"))
    copy = await agent.answer_from_kb(ask("Rechnungskopie", "Bitte eine Kopie, Rechnung März"))
    assert crash.article == "app-crash" and crash.confidence >= THRESHOLD
    assert copy.article == "invoice-copy" and copy.confidence >= THRESHOLD


async def test_an_old_style_knowledge_base_file_still_works(tmp_path: Path) -> None:
    """id, keywords and answer only, as before strong words and exclusions existed: an
    article answers when half of its keywords match, as it did."""
    kb = tmp_path / "kb.toml"
    kb.write_text(
        '[[article]]\nid = "vpn"\nkeywords = ["vpn", "connect", "office", "tunnel"]\n'
        'answer = "Restart the VPN client."\n'
    )
    agent = RuleBasedAgent(load_knowledge_base(kb))
    half = await agent.answer_from_kb(ask("VPN", "I cannot connect to the office"))
    one = await agent.answer_from_kb(ask("VPN", "Is there a VPN?"))
    assert half.article == "vpn" and half.confidence >= THRESHOLD
    assert one.confidence < THRESHOLD


def test_every_shipped_answer_is_written_one_line_per_paragraph() -> None:
    """The outbound side wraps long lines; a line break inside a sentence would show."""
    for article in load_knowledge_base():
        for line in article.answer.splitlines():
            assert line == "" or line.endswith((".", "!", "?", ":")), (article.id, line)


@pytest.mark.parametrize(
    ("subject", "text", "category", "priority"),
    [
        ("Printer on fire", "My printer is on fire!", "technical", "high"),
        ("Rechnungskopie", "Bitte senden Sie mir eine Kopie der Rechnung.", "billing", "normal"),
        ("Where is my order?", "My parcel has not arrived.", "delivery", "normal"),
        ("Hello", "A question about your opening hours.", "general", "normal"),
    ],
)
async def test_triage_names_the_category_and_priority(
    subject: str, text: str, category: str, priority: str
) -> None:
    triage = await RuleBasedAgent().triage(ask(subject, text))
    assert (triage.category, triage.priority) == (category, priority)


class Constant:
    def __init__(self, answer: KbAnswer) -> None:
        self.answer = answer

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        return self.answer


async def test_the_evaluation_counts_what_the_flow_would_send() -> None:
    table = load_table()
    silent = await evaluate(Constant(KbAnswer()), table, THRESHOLD)
    unsure = KbAnswer(answer="Try again.", article="password-reset", confidence=0.49)
    hesitant = await evaluate(Constant(unsure), table, THRESHOLD)
    free = await evaluate(Constant(KbAnswer(answer="Try again.", confidence=0.9)), table)
    assert (silent.precision, silent.recall) == (1.0, 0.0)  # nothing sent, nothing wrong
    assert hesitant.answers == []  # under the threshold: a person answers
    assert len(free.answers) == len(table) and free.precision == 0.0  # names no article
