from __future__ import annotations

from use_cases.mail import InboundEmail
from use_cases.threading import (
    MAX_RECORDED_REFERENCES,
    mention_key,
    recorded_references,
    thread_key,
    thread_of,
    workflow_id_for,
)


def mail(**fields: object) -> InboundEmail:
    return InboundEmail.model_validate({"message_id": "<own@x>", **fields})


def test_first_reference_is_the_thread_root() -> None:
    key = thread_key(
        mail(references=("<root@x>", "<mid@x>"), in_reply_to="<mid@x>"),
        mailbox="support@mailroom.local",
    )
    assert (key.key, key.rule) == ("<root@x>", "references")


def test_in_reply_to_is_used_when_references_are_missing() -> None:
    key = thread_key(mail(in_reply_to="<parent@x>"), mailbox="support@mailroom.local")
    assert (key.key, key.rule) == ("<parent@x>", "in-reply-to")


def test_a_new_conversation_is_keyed_by_its_own_message_id() -> None:
    key = thread_key(mail(), mailbox="support@mailroom.local")
    assert (key.key, key.rule) == ("<own@x>", "new-thread")


def test_reply_and_original_share_a_workflow_id_per_mailbox() -> None:
    original = thread_key(mail(message_id="<root@x>"), mailbox="support@mailroom.local")
    reply = thread_key(mail(references=("<root@x>",)), mailbox="support@mailroom.local")
    other_mailbox = thread_key(mail(message_id="<root@x>"), mailbox="procurement@mailroom.local")
    assert original.workflow_id == reply.workflow_id
    assert other_mailbox.workflow_id != original.workflow_id
    assert original.workflow_id.startswith("thread-support@mailroom.local-")
    assert len(workflow_id_for("m@x", "<k>").rsplit("-", 1)[1]) == 16


def test_recorded_references_keep_the_root_in_reply_to_and_the_most_recent() -> None:
    chain = tuple(f"<r{n}@x>" for n in range(150))
    recorded = recorded_references(mail(references=chain, in_reply_to="<parent@x>"))
    assert len(recorded) == MAX_RECORDED_REFERENCES
    assert recorded[:4] == ["<r0@x>", "<parent@x>", "<r149@x>", "<r148@x>"]
    assert recorded_references(mail(references=("<own@x>", "<a@x>"), in_reply_to="<a@x>")) == [
        "<a@x>"
    ]
    assert recorded_references(mail()) == []


def test_a_mention_key_never_collides_with_a_message_id() -> None:
    assert not mention_key("<a@x>").startswith("<")


def test_a_workflow_id_names_its_thread_and_a_child_flows_names_the_flow() -> None:
    thread = "thread-sales-team@mailroom.local-0123456789abcdef"
    assert thread_of(thread) == (thread, None)
    assert thread_of(f"{thread}-procurement-12") == (thread, "procurement")
    assert thread_of("mailroom-coordinator") is None
    assert thread_of("thread-x-0123") is None  # no thread's hash
