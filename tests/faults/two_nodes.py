"""Two mailroom nodes for the fault suite: each its own data directory, `mailroom worker` and
`mailroom smtp`, both on node A's Temporal server, one PostgreSQL database and one relay; and
the mail their senders write to them, support and procurement conversations of two mails."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from temporalio.client import Client

from tests.faults.deployment import Deployment, RelaySink
from tests.faults.mta import Mail, raw_mail
from use_cases.threading import workflow_id_for

SUPPORT = "support@mailroom.local"
PROCUREMENT = "procurement@mailroom.local"
CLI_TIMEOUT = 60.0
# The first order mail names no quantity or budget, so the flow asks; the answer completes
# it, under the auto-approval limit (ordered at once) or over it (ordered once approved).
ORDER_REQUEST = "Hello, our team needs new monitors. Thanks!"
SMALL_ORDER = "We need 3 monitors, budget EUR 600."
LARGE_ORDER = "We need 20 monitors, budget EUR 6000."
SUPPORT_QUESTION = "I forgot my password and the reset link never arrives. Can you help?"
SUPPORT_FOLLOW_UP = "Also, my account is locked after three attempts."


def two_nodes(root: Path, tag: str, **shared: str) -> tuple[Deployment, Deployment]:
    """Node A runs the Temporal server; node B connects to it. Same task queue (the tag),
    separate data directories and SMTP ports; `shared`: the rest of the environment both
    nodes get (the database, the relay). No MAILROOM_REPLY_TOKEN_SECRET: with a database the
    nodes share the key the first one to start made there."""
    shared = {"MAILROOM_REPLY_TOKEN_SECRET": "", **shared}
    node_a = Deployment(root / "node-a", tag, **shared)
    node_b = Deployment(
        root / "node-b",
        tag,
        MAILROOM_TEMPORAL_ADDRESS=node_a.settings.temporal_target,
        **shared,
    )
    node_b.data_dir.mkdir(parents=True)  # node A's is made as its Temporal server starts
    return node_a, node_b


@dataclass(frozen=True)
class Conversation:
    kind: str  # "support", "small order" or "large order"
    first: Mail
    second: Mail

    @property
    def thread_id(self) -> str:
        return self.first.thread_id


def conversations(tag: str, *, support: int, small: int, large: int) -> list[Conversation]:
    made = [_support(tag, n) for n in range(support)]
    made += [_order(tag, n, SMALL_ORDER, "small order") for n in range(small)]
    made += [_order(tag, small + n, LARGE_ORDER, "large order") for n in range(large)]
    return made


def _support(tag: str, n: int) -> Conversation:
    root = f"<help-{tag}-{n}@example.com>"
    sender = f"customer{n}@example.com"
    follow_up = f"<help-{tag}-{n}-more@example.com>"
    return Conversation(
        "support",
        _mail(SUPPORT, sender, "Password reset", root, SUPPORT_QUESTION, root),
        _mail(SUPPORT, sender, "Re: Password reset", follow_up, SUPPORT_FOLLOW_UP, root),
    )


def _order(tag: str, n: int, answer: str, kind: str) -> Conversation:
    root = f"<buy-{tag}-{n}@example.com>"
    sender = f"buyer{n}@example.com"
    answer_id = f"<buy-{tag}-{n}-answer@example.com>"
    return Conversation(
        kind,
        _mail(PROCUREMENT, sender, "Monitors", root, ORDER_REQUEST, root),
        _mail(PROCUREMENT, sender, "Re: Monitors", answer_id, answer, root),
    )


def _mail(to: str, sender: str, subject: str, message_id: str, body: str, root: str) -> Mail:
    reply_to = root if message_id != root else None
    raw = raw_mail(
        sender=f"<{sender}>",
        to=to,
        subject=subject,
        message_id=message_id,
        body=body + "\r\n",
        in_reply_to=reply_to,
        references=(reply_to,) if reply_to else (),
    )
    return Mail(message_id, workflow_id_for(to, root), sender, raw, to=to)


def spread(talks: list[Conversation]) -> tuple[list[Mail], list[Mail]]:
    """Each conversation's two mails to different nodes (its first to A or B in turn), every
    first mail scheduled before any second one."""
    to_a: list[Mail] = []
    to_b: list[Mail] = []
    for which in ("first", "second"):
        for n, talk in enumerate(talks):
            to_node_a = (n % 2 == 0) == (which == "first")
            (to_a if to_node_a else to_b).append(getattr(talk, which))
    return to_a, to_b


def mailroom_json(node: Deployment, *args: str) -> Any:
    """`mailroom <args> --json` run with the node's environment; its parsed output."""
    return json.loads(mailroom(node, *args, "--json"))


def mailroom(node: Deployment, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"mailroom {' '.join(args)}: {done.stderr}"
    return done.stdout


async def events_by(client: Client, workflow_ids: list[str], pid: int) -> int:
    """History events of these workflows recorded for the worker process `pid` (the SDK's
    default identity is pid@host): the tasks and activities it took."""
    prefix = f"{pid}@"
    count = 0
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            attributes = getattr(event, event.WhichOneof("attributes") or "", None)
            count += str(getattr(attributes, "identity", "")).startswith(prefix)
    return count


def kinds(message_ids: Counter[str]) -> Counter[str]:
    """Mail mailroom sent, by kind: "<ack-3f…@mailroom.local>" is an acknowledgement."""
    return Counter(m.lstrip("<").rsplit("-", 1)[0] for m in message_ids.elements())


class TimedRelay(RelaySink):
    """The relay, noting when each copy of a Message-ID arrived (time.monotonic())."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(envelope.original_content)
        message_id = str(headers.get("Message-ID", "")).strip()
        self.arrivals[message_id].append(time.monotonic())
        self.received[message_id] += 1
        return "250 2.0.0 OK"

    def resent_across(self, moment: float, *, within: float) -> set[str]:
        """Message-IDs that arrived twice: first at most `within` seconds before `moment`,
        then after it."""
        return {
            message_id
            for message_id, (first, *others) in list(self.arrivals.items())
            if len(others) == 1 and moment - within <= first <= moment < others[0]
        }
