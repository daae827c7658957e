from __future__ import annotations

from use_cases.mail import InboundEmail
from use_cases.threading import thread_key, workflow_id_for


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
