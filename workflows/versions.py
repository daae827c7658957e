"""Patch ids: workflow code that changes what a run records stays replayable.

History format 1 starts with mailroom 0.1.0: its workflow code has no `workflow.patched`
forks, and tests/workflows/histories/ holds histories recorded by it. Runs started by
earlier builds do not replay on it (they must be completed before upgrading: CHANGELOG.md).

A later change to the commands a run records (activities, timers, child workflows, signals
sent, search-attribute upserts, markers, their order) goes through three steps:

1. patched: `if workflow.patched(ID): new else: old`, its id declared here with a comment
   saying what changed and where; the recorded histories keep replaying on the old path.
2. deprecate_patch: once no run started before the patch is open (none needs the old
   path), `workflow.deprecate_patch(ID)` and the new path alone.
3. removed: once no run started before the deprecation is open, the call and the id go.

A release that skips those waits starts a new history format: every fork removed, the
fixtures recorded again (tests/workflows/record_histories.py), and an upgrading note in
CHANGELOG.md telling operators to complete the runs in flight first.

Or, without a wait and without removing a fork, a format named in the runs' input: history
format 2 (below) is the four patches declared before it, taken without asking by any run
whose input says `history_format` 2 or later (the threads the gateway starts, unless
MAILROOM_HISTORY_FORMAT=1 during a rolling upgrade), so those runs record no patch marker
and no TemporalChangeVersion upsert, while runs started before (no such field: format 1)
ask `workflow.patched` as before. The input is in the run's history: every replay decides
the same. History formats 3 and 4 each add a change taken only by runs started in that
format or later: a run of an earlier format keeps its old path without asking. Histories
of each format are recorded (tests/workflows/histories/).

Changes that land together share one id: each patch a run has seen costs the worker memory
for as long as the run is cached (measured: ~5 KB of RSS per patch per cached thread).
"""

from __future__ import annotations

from temporalio import workflow

# Mail queued at a thread while its child flow runs goes to the child in one NEW_MESSAGES
# signal, after every queued mail's bookkeeping (workflows/thread.py `_handle_queued`);
# before, each queued mail was acknowledged and forwarded (one signal each) in turn.
QUEUED_MAIL_TO_CHILD = "queued-mail-to-child-in-one-signal"

# A child flow's report that repeats where it last came to rest (the same stage and note,
# nothing else the thread keeps changed: each answer still missing the same items) is not
# sent: its stages reach the thread with the next report that changes something
# (workflows/flow_workflow.py `_tell_latest`); before, every rest was reported.
REPEATED_REST_UNREPORTED = "repeated-rest-unreported"

# A thread's mail to its running child flow goes by local activity (one signal RPC inside
# the thread's workflow task, recorded as a marker: workflows/mail_to_child.py) instead of
# a signal command (SignalExternalWorkflowExecutionInitiated, ExternalWorkflowExecution-
# Signaled and the workflow task the server adds for it); the child drops a mail it took
# before (use_cases/forwarding.py). workflows/execute.py ChildFlow.deliver / deliver_all.
MAIL_TO_CHILD_BY_ACTIVITY = "mail-to-child-by-activity"
# With a cumulative budget (MAILROOM_BUDGET_PER_COST_CENTRE), procurement checks the budget
# (activity check_budget) and orders alone on the coordinator's lane `budget:<holder>`, and
# checks it again once approved (workflows/procurement.py `_within_budget`); asked only when
# a budget is set, so runs without one record what they always did.
BUDGET_LANE = "budget-lane"

# History format 2: a run whose input says so (`history_format` of ThreadInput and FlowStart)
# takes each of the four changes above without asking `workflow.patched`, so it records no
# marker and no TemporalChangeVersion upsert for them (for a procurement mail 0.64 of its
# ~8 events, measured). The gateway starts threads with MAILROOM_HISTORY_FORMAT (default 4);
# a thread keeps its format through continue-as-new and gives it to its flows, inline or as
# a child (a child keeps it through its own continue-as-new). A run started before (no such
# field: 1) asks as before; its input, in its history, decides the same on every replay.
# Why the format never changes within a thread: workers of a build before format 2, still
# running during a rolling upgrade, would record markers in a run marked 2 (they do not
# read the field), or take the old path replaying a run of format 2; so the operator starts
# the new processes with MAILROOM_HISTORY_FORMAT=1 until no old worker runs.
IN_FORMAT_2 = frozenset(
    {QUEUED_MAIL_TO_CHILD, REPEATED_REST_UNREPORTED, MAIL_TO_CHILD_BY_ACTIVITY, BUDGET_LANE}
)

# A thread opening an inline flow asks its route (the local activity `flow_route`) for the
# flow's settings too, and the flow's first run takes them instead of asking in an activity
# of its own (`flow_settings`): one local activity fewer per opened thread, each a workflow
# activation and an activity task on the worker (workflows/routing.py `_find_flow`,
# workflows/flow.py `run_flow`). Replays decide by the recorded route: settings in it or not.
ROUTE_WITH_SETTINGS = "route-with-settings"

# History format 3: format 2, and ROUTE_WITH_SETTINGS. Only runs started in format 3 take
# it; a run of an earlier format never does (no `workflow.patched`: nothing is recorded, and
# old and new workers replay such a run alike). An old worker refuses a run of format 3
# (known_format), so the operator of a rolling upgrade from a build of format 2 starts the
# new processes with MAILROOM_HISTORY_FORMAT=2 until no old worker runs.
IN_FORMAT_3 = frozenset({ROUTE_WITH_SETTINGS})

# Mail queued at a thread behind the mail that opens a flow, and mail that came while the
# thread asked for the route, goes with the flow's start (FlowStart.queued, up to
# WITH_START_BYTES; the rest is forwarded after), so the flow has it in its inbox before it
# first answers; before, it was handed over after the start, and a child flow could answer
# the first mail alone while the forward was on its way (workflows/thread.py
# `_open_with_queued`, workflows/routing.py `_route`). A mail that opens no flow goes its
# own way and the next may open it; people erased meanwhile are left out, and the new flow
# is told of everyone erased in the run. No forward of that mail to a child.
QUEUED_MAIL_WITH_START = "queued-mail-with-start"

# History format 4: format 3, and QUEUED_MAIL_WITH_START, taken only by runs started in it;
# a rolling upgrade from a build of format 3 runs the new processes with
# MAILROOM_HISTORY_FORMAT=3 until no old worker runs (an old worker refuses format 4).
HISTORY_FORMAT = 4
IN_FORMAT_4 = frozenset({QUEUED_MAIL_WITH_START})


def changed(patch_id: str, history_format: int) -> bool:
    """Whether this run takes the change `patch_id`: a change of format 3 or 4 in a run of
    that format or later; a change of format 2 in a run of format 2 or later always (no
    command), in an older one as `workflow.patched` says. A change added later belongs to
    no format yet: ask `workflow.patched` for it until a new format takes it in."""
    if patch_id in IN_FORMAT_4:
        return history_format >= 4
    if patch_id in IN_FORMAT_3:
        return history_format >= 3
    if patch_id not in IN_FORMAT_2:
        raise ValueError(f"{patch_id} is part of no history format")
    return history_format >= 2 or workflow.patched(patch_id)


def known_format(history_format: int) -> int:
    """The run's format, if this code knows it; a run of a later format (started by a newer
    build) fails its workflow task, retried until a worker of that build takes it, instead
    of running as this code would."""
    if history_format > HISTORY_FORMAT:
        raise RuntimeError(
            f"history format {history_format}: this worker knows up to {HISTORY_FORMAT}"
        )
    return history_format
