"""The thread's search attributes: what the Web UI's workflow list can show as columns and
filter by (the list has no column for a workflow's summary, only for these). A cluster
must have them registered: the embedded server does it, and the worker checks at start-up
(orchestrator/namespace_checks.py) because upserting an unknown one fails every task."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

with workflow.unsafe.imports_passed_through():
    from use_cases.forgetting import ERASED, Forgetting
    from use_cases.models import ThreadState
    from use_cases.thread_labels import plain_line

FLOW_ATTRIBUTE = SearchAttributeKey.for_keyword("MailroomFlow")
STAGE_ATTRIBUTE = SearchAttributeKey.for_keyword("MailroomStage")
# Who and what a thread is about: set by its first message, upserted once per run.
SUBJECT_ATTRIBUTE = SearchAttributeKey.for_text("MailroomSubject")
REQUESTER_ATTRIBUTE = SearchAttributeKey.for_keyword("MailroomRequester")
REFERENCE_ATTRIBUTE = SearchAttributeKey.for_keyword("MailroomReference")

THREAD_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    FLOW_ATTRIBUTE,
    STAGE_ATTRIBUTE,
    SUBJECT_ATTRIBUTE,
    REQUESTER_ATTRIBUTE,
    REFERENCE_ATTRIBUTE,
)
SUBJECT_LENGTH = 200  # the server refuses a value over 2 KB; a list column shows less
ADDRESS_LENGTH = 254  # the longest address SMTP carries (RFC 5321 path limit)

# Subject, requester (None: not published, MAILROOM_SEARCHABLE_SUBJECTS off) and reference.
Identity = tuple[str | None, str | None, str]


def thread_identity(state: ThreadState, *, searchable_subjects: bool = True) -> Identity:
    """Subject, requester and ticket reference as the list shows them: from mail, so one
    line of printable text each, bounded (the list shows them as text: no escaping). The
    subject and requester are mail content, stored in clear where search attributes are:
    published only where the thread's config allows it (decided at its start)."""
    reference = plain_line(state.reference, ADDRESS_LENGTH)
    if not searchable_subjects:
        return None, None, reference
    requester = state.requester or (state.participants[0] if state.participants else "")
    return (
        plain_line(state.subject, SUBJECT_LENGTH),
        plain_line(requester, ADDRESS_LENGTH),
        reference,
    )


def _identity_pairs(identity: Identity) -> list[tuple[SearchAttributeKey[str], str]]:
    subject, requester, reference = identity
    pairs = [(SUBJECT_ATTRIBUTE, subject), (REQUESTER_ATTRIBUTE, requester)]
    return [(key, value) for key, value in pairs if value is not None] + [
        (REFERENCE_ATTRIBUTE, reference)
    ]


def identity_updates(identity: Identity) -> list[SearchAttributeUpdate[str]]:
    return [key.value_set(value) for key, value in _identity_pairs(identity)]


def child_flow_attributes(identity: Identity, flow: str) -> TypedSearchAttributes:
    """A child flow's row in the list: whose and which flow it is, given at its start.
    Its stage is the thread's to show (the child does not upsert)."""
    pairs = [*_identity_pairs(identity), (FLOW_ATTRIBUTE, flow)]
    return TypedSearchAttributes([SearchAttributePair(key, value) for key, value in pairs])


def forgotten_attributes(
    attributes: TypedSearchAttributes, forgetting: Forgetting, identity: Identity | None = None
) -> TypedSearchAttributes:
    """A run's search attributes for the run that follows it without an erased person
    (continue-as-new would carry their address and subject otherwise); a thread's subject
    and requester are those of its state without them (`identity`)."""
    replaced = dict(_identity_pairs(identity)) if identity is not None else {}
    # as the list shows them (plain_line): a subject with doubled spaces is still theirs
    shown = {plain_line(subject, SUBJECT_LENGTH) for subject in forgetting.subjects}
    return TypedSearchAttributes(
        [
            SearchAttributePair(pair.key, replaced[pair.key])
            if pair.key in replaced
            else SearchAttributePair(pair.key, _forgotten(pair.key, pair.value, forgetting, shown))
            if isinstance(pair.value, str)
            else pair
            for pair in attributes
        ]
    )


def _forgotten(
    key: SearchAttributeKey[Any], value: str, forgetting: Forgetting, shown: set[str]
) -> str:
    if key not in (SUBJECT_ATTRIBUTE, REQUESTER_ATTRIBUTE):  # a flow's, a stage's name
        return forgetting.text(value)
    return ERASED if value in shown else forgetting.text(value, subject=True)
