"""What the Temporal Web UI shows of a thread: one bounded line of inert text per mail field."""

from __future__ import annotations

import re

from use_cases.thread_labels import (
    SUMMARY_LENGTH,
    flow_summary,
    one_line,
    plain_line,
    stage_details,
    thread_details,
    thread_summary,
)
from use_cases.tickets import ticket_reference


def test_a_summary_names_the_subject_and_the_requester() -> None:
    assert thread_summary("Printer on fire", "alice@example.com") == (
        "Printer on fire — alice@example.com"
    )


def test_control_characters_and_line_breaks_from_mail_never_reach_the_summary() -> None:
    summary = thread_summary("Hello\x1b[31m red\r\nBcc: x\u202eevil\u2028end", "a@b.example")
    assert summary == "Hello [31m red Bcc: x evil end — a@b.example".replace("[", "\\[")
    assert all(char.isprintable() for char in summary)


def test_a_long_subject_is_cut_but_the_requester_is_kept() -> None:
    summary = thread_summary("quote " * 100, "bob@corp.example")
    assert len(summary) <= SUMMARY_LENGTH
    assert summary.endswith("… — bob@corp.example")


def test_markup_links_and_images_from_mail_are_escaped() -> None:
    line = one_line('<img src="http://evil.example/p.png"> ![x](https://e.example) www.e.example')
    assert not re.search(r"(?<!\\)[<>\[\]]", line)  # every bracket escaped
    assert "http://" not in line and "www.e" not in line
    assert line.replace("\\", "") == (
        '<img src="http://evil.example/p.png"> ![x](https://e.example) www.e.example'
    )


def test_an_empty_subject_still_reads() -> None:
    assert thread_summary("", "") == "(no subject) — unknown sender"
    assert flow_summary("support", "") == "support flow: (no subject)"


def test_details_name_the_mailbox_the_ticket_and_the_first_message() -> None:
    details = thread_details("support@mailroom.local", "thread-1", "<q-1@example.com>")
    assert details.splitlines() == [
        "**mailbox** support@mailroom.local",
        f"**ticket** #{ticket_reference('thread-1')}",
        "**first message** \\<q-1@example.com\\>",
    ]


def test_the_stage_line_shows_stage_flow_messages_and_reference() -> None:
    details = stage_details("thread-1", stage="waiting_for_customer", flow="support", messages=3)
    assert details == (
        f"**stage** waiting_for_customer · flow support · 3 messages · "
        f"ref #{ticket_reference('thread-1')}"
    )
    assert stage_details("thread-1", stage=None, flow=None, messages=1).startswith(
        "**stage** new · 1 message ·"
    )


def test_a_run_without_a_static_summary_carries_it_in_its_stage() -> None:
    summary = thread_summary("Printer on fire", "alice@example.com")
    details = stage_details("thread-1", stage="answered", flow="support", summary=summary)
    assert details.splitlines()[1] == "Printer on fire — alice@example.com"


def test_a_search_attribute_line_is_one_bounded_line_of_text_left_unescaped() -> None:
    """The workflow list shows search attributes as text: markup stays as typed."""
    line = plain_line("<b>RFQ</b>\r\n\x1b[31m [x](y)\u202e" + " laptops" * 60, 200)
    assert line.startswith("<b>RFQ</b> [31m [x](y) laptops")
    assert len(line) <= 200 and line.endswith("laptops…")
    assert all(char.isprintable() for char in line)
