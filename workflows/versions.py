"""Patch ids: workflow code that changes what a run records stays replayable.

Histories recorded before a change replay on the old path (`workflow.patched` is False for
them); tests/workflows/test_recorded_histories.py replays such histories. Changes that land
together share one id: each patch a run has seen costs the worker memory for as long as the
run is cached (measured: ~5 KB of RSS per patch per cached thread, four patches +16 KB).
"""

# Shared SLA timer (workflows/alarm.py), reports and upserts where a flow rests
# (workflows/execute.py, workflows/routing.py), replies to the outbox by local activity
# (workflows/sending.py).
FEWER_EVENTS_PER_MAIL = "fewer-events-per-mail"

# A child flow's progress reports go to its thread by local activity (workflows/reports.py)
# instead of the workflow's own signal command.
PROGRESS_BY_LOCAL_ACTIVITY = "progress-by-local-activity"

# A flow started in a thread that had an earlier flow (typically mail that came while the
# thread was completing: a late, retried first mail; flows_started counts across runs)
# starts as a follow-up, as in a reopened thread: procurement notes a message without a
# new request instead of asking the requester again (workflows/routing.py).
LATER_FLOW_FOLLOWS_UP = "later-flow-follows-up"

# A run that continued-as-new just as its flow finished (the child's last report came while
# the thread waited to continue) inherits a finished flow and no flow to wait for: it
# completes, as the run before would have (workflows/thread.py). Unpatched (histories
# recorded without it), such a run stays open until new mail or COMPLETE_THREAD.
INHERITED_FINISHED_FLOW_COMPLETES = "inherited-finished-flow-completes"

# Each approver gets an own approval request whose Reply-To is their signed decision
# address (workflows/procurement.py). Unpatched: one request to all approvers.
SIGNED_DECISIONS = "signed-decisions"

# An emailed approval decides only through the approver's signed decision address for the
# request; any other emailed decision is recorded, refused, and the approver named in its
# From is told. Unpatched, a decision from an address on the list counts. An id of its own:
# `patched` answers once per run, so a run that asked unpatched must still ask this anew.
SIGNED_DECISIONS_REQUIRED = "signed-decisions-required"

# A signal the thread forwards to a child flow that closed meanwhile (its last report still
# on the way) no longer fails the thread: mail goes to a later flow, a decision or
# completion is dropped (workflows/routing.py). Unpatched, the thread failed.
CLOSED_FLOW_MISSES_SIGNAL = "closed-flow-misses-signal"

# A customer's "solved" closes a support thread only when it came through the thread's
# signed reply address from the customer (workflows/support.py). Unpatched: from anyone.
SIGNED_SOLVED = "signed-solved"

# Issue 20, humans in the loop: human replies (HUMAN_REPLY), escalation notices with signed
# agent addresses, no repeated answers, confirm-before-order, ticket references, fewer
# acknowledgements. One id for all of it: every change that landed together.
HUMANS_IN_THE_LOOP = "humans-in-the-loop"
