"""The names of every signal and query a thread or a flow takes, declared once.

The thread and the flow workflows take the same signals: the thread forwards what it gets
to its child flow under the same name (workflows/execute.py ChildFlow).
"""

NEW_MESSAGE = "NEW_MESSAGE"
# Mail queued at the thread while it forwarded earlier mail, to its child flow in one signal
NEW_MESSAGES = "NEW_MESSAGES"
COMPLETE_THREAD = "COMPLETE_THREAD"
APPROVE = "APPROVE"
REJECT = "REJECT"
HUMAN_REPLY = "HUMAN_REPLY"
FLOW_PROGRESS = "FLOW_PROGRESS"  # a child flow's report to its thread
# `mailroom erase` in a thread shared with others: the person's mail and address dropped
# from its state (and its flow's), then continue-as-new, so earlier runs can be deleted
FORGET_PERSON = "FORGET_PERSON"

THREAD_STATE_QUERY = "thread_state"
FLOW_PROGRESS_QUERY = "flow_progress"
