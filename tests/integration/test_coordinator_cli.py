"""`mailroom coordinator [--json]` and `mailroom coordinator release ITEM`, run as the
`mailroom` process would be, against the coordinator served by the stack's worker."""

from __future__ import annotations

import json

from orchestrator.bootstrap import coordinator
from tests.integration.test_cli import cli_env
from tests.stack import Stack
from tests.support import run_mailroom
from use_cases.coordinator import ItemRef, StartProcessing, Verdict


async def test_the_coordinator_command_lists_items_and_an_operator_releases_one(
    stack: Stack,
) -> None:
    env = cli_env(stack)
    code, out, err = await run_mailroom("coordinator", env=env)
    assert (code, out.strip()) == (0, "no coordinator running"), err

    coordinating = coordinator(stack.wiring.settings, stack.gateway.client)
    for daemon in ("imap-a", "imap-b"):
        ref = ItemRef(item_id=daemon, kind="imap-daemon", payload={"source": "inbox"})
        await coordinating.request_lane(StartProcessing(item=ref, lane="imap:inbox", wait=True))

    code, out, err = await run_mailroom("coordinator", "--json", env=env)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["total_items"] == 2 and shown["signals_handled"] == 2
    assert shown["items"]["imap-a"]["processing"] is True
    assert shown["items"]["imap-b"]["queued_for"] == "imap:inbox"

    code, out, err = await run_mailroom("coordinator", env=env)
    assert code == 0, err
    assert "imap-a  imap-daemon  imap:inbox" in out
    assert "2 items, 1 processing, 1 lanes, 2 signals handled, run 1" in out

    code, out, err = await run_mailroom("coordinator", "release", "imap-a", env=env)
    assert (code, out.strip()) == (0, "released imap-a (it held imap:inbox)"), err
    ref = ItemRef(item_id="imap-b", kind="imap-daemon")
    answer = await coordinating.request_lane(StartProcessing(item=ref, lane="imap:inbox"))
    assert answer.verdict is Verdict.GO

    code, out, err = await run_mailroom("coordinator", "release", "imap-zz", env=env)
    assert code == 2 and out == ""
    assert err.strip().endswith("the coordinator knows no item imap-zz") and err.count("\n") == 1
