"""Settings → what the flows get: FlowConfig (into the workflow input) and PolicyRules."""

from __future__ import annotations

from adapters.inbound.imap_source import parse_source
from orchestrator.settings import Settings, parse_flow_modes
from use_cases.flows import FlowConfig, FlowMode
from use_cases.mailboxes import Mailboxes
from use_cases.policy import PolicyRules


def flow_config(settings: Settings) -> FlowConfig:
    search_attributes = settings.search_attributes
    if search_attributes is None:  # the embedded server registers them; a cluster may not
        search_attributes = settings.embedded_temporal
    return FlowConfig(
        modes={
            flow: FlowMode(mode) for flow, mode in parse_flow_modes(settings.flow_modes).items()
        },
        approvers=tuple(a.strip().lower() for a in settings.approvers),
        auto_approve_limit=settings.auto_approve_limit,
        approval_reminder_after=settings.approval_reminder_after,
        approval_expires_after=settings.approval_expires_after,
        support_team=settings.support_team,
        sla_reminder_after=settings.sla_reminder_after,
        sla_auto_close_after=settings.sla_auto_close_after,
        kb_confidence=settings.kb_confidence,
        search_attributes=search_attributes,
        searchable_subjects=settings.searchable_subjects,
        agent_in_process=not settings.agent_url,
        outbox_in_process=not settings.outbound_smtp,
        auto_reply_cap=settings.auto_replies_per_thread_per_hour,
        ack_delay=settings.ack_delay,
        extraction_confidence=settings.extraction_confidence,
        budget_per_cost_centre=settings.budget_per_cost_centre,
        counted_mailboxes=counted_mailboxes(settings),
    )


def counted_mailboxes(settings: Settings) -> tuple[str, ...]:
    """The mailboxes the settings name (MAILROOM_MAILBOXES, each IMAP source's mailbox=,
    the postmaster's): the only values of the thread metrics' `mailbox` label."""
    imap = (parse_source(url).mailbox for url in settings.imap_sources)
    named = {*settings.mailboxes, *(m for m in imap if m)}
    if settings.domains:
        named.add(Mailboxes(settings.domains, (), settings.postmaster).postmaster)
    return tuple(sorted(named))


def policy_rules(settings: Settings) -> PolicyRules:
    return PolicyRules(
        blocked_words=settings.blocked_words,
        blocked_suppliers=settings.blocked_suppliers,
        spend_limit_per_requester=settings.spend_limit_per_requester,
        auto_approve_limit=settings.auto_approve_limit,
    )
