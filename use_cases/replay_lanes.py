"""Replay in parallel lanes without reordering a conversation.

Replay hands messages off several at a time (each hand-off is mostly waiting: fsyncs and a
round trip to Temporal), but a reply must reach its thread after the message it answers:
threading looks the parent up in the index the parent's hand-off writes. So every message
goes to the lane of the first earlier message it is related to by any threading clue
(Message-ID, References, In-Reply-To, a bounce's original, Outlook's conversation, a reply
token address, the normalised subject); unrelated messages spread round-robin. Lanes keep
file order, so related mail is handed off in the order it was read.
"""

from __future__ import annotations

from collections import OrderedDict

from use_cases.mail import InboundEmail
from use_cases.threading import outlook_conversation, subject_key

# Enough clues to keep every conversation of a large mbox together; the oldest are
# forgotten first (a conversation idle for this long is long handed off).
REMEMBERED_CLUES = 200_000


def clues(email: InboundEmail) -> set[str]:
    found = {f"id:{m}" for m in (email.message_id, email.in_reply_to, *email.references) if m}
    if email.report is not None and email.report.original_message_id:
        found.add(f"id:{email.report.original_message_id}")
    conversation = outlook_conversation(email.thread_index)
    if conversation:
        found.add(f"id:{conversation}")
    found.update(f"to:{a.lower()}" for a in (*email.to, *email.cc) if "+" in a.partition("@")[0])
    subject = subject_key(email.subject)
    if subject:
        found.add(f"subject:{subject}")
    return found


class ConversationLanes:
    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.lane_of: OrderedDict[str, int] = OrderedDict()
        self.next_lane = 0

    def assign(self, email: InboundEmail) -> int:
        found = clues(email)
        known = [self.lane_of[c] for c in found if c in self.lane_of]
        if known:
            lane = min(known)  # deterministic when clues point at several lanes
        else:
            lane, self.next_lane = self.next_lane, (self.next_lane + 1) % self.lanes
        for clue in found:
            self.lane_of[clue] = lane
            self.lane_of.move_to_end(clue)
        while len(self.lane_of) > REMEMBERED_CLUES:
            self.lane_of.popitem(last=False)
        return lane
