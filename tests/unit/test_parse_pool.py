"""Costly mail is parsed away from the SMTP adapter's event loop, within a CPU budget, and
always becomes a valid message: other clients keep being answered, nothing is refused."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from adapters.inbound import parse_pool
from adapters.inbound.html_text import RENDER_MAX_CHARS, html_to_text
from adapters.inbound.mime import parse_email
from adapters.inbound.parse_pool import ParsePool
from adapters.inbound.smtp import SmtpInboundHandler
from adapters.inbound.smtp_listener import serve_smtp
from tests.fakes import FakeThreadGateway
from tests.stack import send_mail
from tests.support import free_port, wait_for
from tests.unit.parse_gates import die_on_poison, parse_when_released, spin_when_asked
from use_cases.ingest import ingest_email
from use_cases.mailboxes import Mailboxes
from use_cases.models import Ingested
from use_cases.parsing import PARSE_ON_LOOP_BYTES

MAILBOX = "support@mailroom.local"
GATE_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]


def html_table(chars: int) -> str:
    rows: list[str] = []
    size = 0
    while size < chars:
        cells = "".join(f"<td>row {len(rows)} cell {j}</td>" for j in range(8))
        rows.append(f"<tr>{cells}</tr>\r\n")
        size += len(rows[-1])
    return "<html><body><table>\r\n" + "".join(rows) + "</table></body></html>\r\n"


def lines(char: str, chars: int) -> str:
    """`chars` of text in lines SMTP accepts (at most 998 bytes each)."""
    return (char * 78 + "\r\n") * (chars // 80 + 1)


def mail(n: int, body: str, *, extra: str = "", html: bool = False) -> bytes:
    kind = "text/html" if html else "text/plain"
    return (
        f"From: customer{n}@example.com\r\nTo: {MAILBOX}\r\nSubject: mail {n}\r\n"
        f"Message-ID: <mail-{n}@example.com>\r\nDate: Fri, 04 Dec 2026 12:00:00 +0000\r\n"
        f"{extra}Content-Type: {kind}; charset=utf-8\r\n\r\n{body}"
    ).encode()


@pytest.fixture
async def gated_pool() -> AsyncIterator[ParsePool]:
    pool = ParsePool(workers=1, cpu_seconds=30, parse=parse_when_released)
    yield pool
    await pool.close()


async def test_a_normal_mail_is_answered_while_another_is_still_being_parsed(
    gated_pool: ParsePool,
) -> None:
    gateway = FakeThreadGateway()

    async def ingest(raw: bytes, mailboxes: Sequence[str], mail_from: str | None) -> Ingested:
        return await ingest_email(raw, mailboxes=mailboxes, gateway=gateway, parse=gated_pool)

    port = free_port()
    listener = await serve_smtp(
        SmtpInboundHandler(Mailboxes(["mailroom.local"]), ingest),
        host="127.0.0.1",
        port=port,
        max_message_bytes=10 * 1024 * 1024,
    )
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.setblocking(False)
        slow = mail(
            1, lines("x", 2 * PARSE_ON_LOOP_BYTES), extra=f"X-Gate: {gate.getsockname()[1]}\r\n"
        )
        try:
            slow_sent = asyncio.create_task(
                asyncio.to_thread(send_mail, port, slow, [MAILBOX], "customer1@example.com")
            )
            waiting, _ = await asyncio.wait_for(loop.sock_accept(gate), GATE_TIMEOUT)
            with waiting:  # the slow mail is being parsed, in a worker, until this closes
                normal = mail(2, "Where is my order?\r\n")
                refused = await asyncio.to_thread(send_mail, port, normal, [MAILBOX], "c2@x.org")
                assert refused == {}, "the normal mail got its 250"
                assert not slow_sent.done(), "while the other was still being parsed"
                assert [m.message_id for _, m in gateway.handed_off] == ["<mail-2@example.com>"]
            assert await asyncio.wait_for(slow_sent, GATE_TIMEOUT) == {}
        finally:
            await listener.stop()
    handed = [m.message_id for _, m in gateway.handed_off]
    assert handed == ["<mail-2@example.com>", "<mail-1@example.com>"]


async def test_a_mail_over_its_cpu_budget_becomes_a_valid_message_with_a_defect() -> None:
    gateway = FakeThreadGateway()
    # inscriptis takes about 0.3 s of CPU over this table; the budget is a tenth of that
    raw = mail(3, html_table(RENDER_MAX_CHARS - 1024), html=True)
    pool = ParsePool(workers=1, cpu_seconds=0.03)
    try:
        await ingest_email(raw, mailboxes=[MAILBOX], gateway=gateway, parse=pool)
    finally:
        await pool.close()
    [(_, message)] = gateway.handed_off
    assert message.message_id == "<mail-3@example.com>" and message.subject == "mail 3"
    assert message.defects[0].startswith("parse ran out of its 0.03 s of CPU")
    if "parsed again" in message.defects[0]:  # else even the stripped parse ran out
        assert "row 7 cell 3" in message.text and "<td>" not in message.text


async def test_a_mail_that_runs_out_twice_is_read_from_its_header() -> None:
    raw = mail(4, html_table(RENDER_MAX_CHARS * 2), extra="X-Spin: yes\r\n", html=True)
    pool = ParsePool(workers=1, cpu_seconds=0.05, parse=spin_when_asked)
    try:
        email = await pool.off_loop(raw)
    finally:
        await pool.close()
    assert (email.message_id, email.from_addr, email.subject, email.text) == (
        "<mail-4@example.com>",
        "customer4@example.com",
        "mail 4",
        "",
    )
    assert "twice: parsed from the header only" in email.defects[0]
    assert email.size == len(raw)


async def test_a_header_too_slow_even_alone_leaves_the_message_id() -> None:
    """Each of the three budgets runs out (a 256 KB To: header costs about 0.3 s to read, in
    linear time, against a budget of 0.01 s): the mail still becomes a message."""
    crafted = mail(9, "hello\r\n", extra="To: " + "a@" * (128 * 1024) + "\r\n")
    pool = ParsePool(workers=1, cpu_seconds=0.01)
    try:
        email = await pool.off_loop(crafted)
    finally:
        await pool.close()
    assert email.message_id == "<mail-9@example.com>" and not email.message_id_generated
    assert email.defects == (
        "parse ran out of its 0.01 s of CPU twice and its header too: only its Message-ID read",
    )
    assert email.size == len(crafted) and email.text == "" and email.subject == ""


async def test_a_crafted_header_under_a_dead_worker_is_read_in_bounded_time() -> None:
    """The last resort, a header-only parse in the adapter's own process (no CPU budget can
    stop a thread), reads a 256 KB Content-Type of quoted semicolons in linear time."""
    poison = '; a="' + ";" * (256 * 1024) + '"'
    crafted = mail(10, "hello\r\n", extra="X-Poison: yes\r\n").replace(
        b"charset=utf-8", b"charset=utf-8" + poison.encode()
    )
    pool = ParsePool(workers=1, cpu_seconds=30, parse=die_on_poison)
    started = time.process_time()
    try:
        email = await pool.off_loop(crafted)
    finally:
        await pool.close()
    assert time.process_time() - started < 2  # it took 155 s of CPU before the cap
    assert email.message_id == "<mail-10@example.com>" and email.subject == "mail 10"
    assert email.defects[0] == "parser process died twice: parsed from the header only"
    assert any(
        re.fullmatch(r"Content-Type of \d{6} characters cut to 2\d: .*", d) for d in email.defects
    )


async def test_a_worker_that_dies_costs_its_mail_the_body_not_the_mail_and_is_replaced() -> None:
    pool = ParsePool(workers=1, cpu_seconds=30, parse=die_on_poison)
    body = lines("y", 2 * PARSE_ON_LOOP_BYTES)
    try:
        poisoned = await pool.off_loop(mail(5, body, extra="X-Poison: yes\r\n"))
        after = await pool.off_loop(mail(6, body))
    finally:
        await pool.close()
    assert poisoned.message_id == "<mail-5@example.com>" and poisoned.text == ""
    assert poisoned.defects[0] == "parser process died twice: parsed from the header only"
    assert after.message_id == "<mail-6@example.com>" and after.text.split() == body.split()
    assert not after.defects


async def test_a_closed_pool_still_parses_big_mail() -> None:
    pool = ParsePool(workers=1, cpu_seconds=30)
    await pool.close()
    body = lines("z", 2 * PARSE_ON_LOOP_BYTES)
    email = await pool.off_loop(mail(7, body))
    assert email.text.split() == body.split()


def test_html_too_big_to_render_is_stripped_to_its_text_with_a_defect() -> None:
    raw = mail(8, html_table(500 * 1024) + "<script>alert('x')</script>Regards, Bob", html=True)
    email = parse_email(raw)
    assert "row 0 cell 0 row 0 cell 1" in email.text
    assert "row 2000 cell 7" in email.text and email.text.endswith("Regards, Bob")
    assert "<" not in email.text and "alert" not in email.text
    assert any("not rendered (over" in d and "tags stripped" in d for d in email.defects)


def test_hostile_markup_is_stripped_without_losing_its_text() -> None:
    defects: list[str] = []
    hostile = "<a" * RENDER_MAX_CHARS + "<!-- never closed" + "<script>" * 1000
    assert html_to_text(hostile, defects) == "<a" * RENDER_MAX_CHARS
    assert len(defects) == 1
    text = html_to_text("<p>Dear &amp; <b>valued</b><script>x</script> customer" + "<i>" * 300_000)
    assert text == "Dear & valued customer"


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # it exited while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def fork_server_of(pid: int) -> int:
    [fork_server] = [
        child
        for child in children(pid)
        if b"forkserver" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]
    return fork_server


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_a_stop_sent_to_the_whole_process_group_leaves_the_mail_in_flight_parsing(
    gated_pool: ParsePool,
) -> None:
    """systemd (KillMode=control-group), supervisord and Ctrl-C signal every process: the
    workers and their fork server keep parsing while the adapter drains and answers."""
    loop = asyncio.get_running_loop()
    body = lines("s", 2 * PARSE_ON_LOOP_BYTES)
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.setblocking(False)
        raw = mail(11, body, extra=f"X-Gate: {gate.getsockname()[1]}\r\n")
        parsed = asyncio.create_task(gated_pool.off_loop(raw))
        waiting, _ = await asyncio.wait_for(loop.sock_accept(gate), GATE_TIMEOUT)
        with waiting:  # the mail is in a worker now
            # Other pools of this process (test stacks) share the fork server: only ours.
            signalled = [fork_server_of(os.getpid()), *gated_pool.worker_pids()]
            assert len(signalled) == 2, "the fork server and the pool's one worker"
            for pid in signalled:
                os.kill(pid, signal.SIGTERM)
                os.kill(pid, signal.SIGINT)
        email = await asyncio.wait_for(parsed, GATE_TIMEOUT)
    assert email.message_id == "<mail-11@example.com>" and not email.defects
    assert email.text.split() == body.split()
    assert all(alive(pid) for pid in signalled), "the same worker parsed it, unharmed"


async def test_a_worker_that_cannot_be_started_counts_as_a_dead_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fork server hanging up while a worker is started (it was killed meanwhile: EOFError
    from multiprocessing) costs the mail a retry on fresh workers, never its hand-off."""
    pool = ParsePool(workers=1, cpu_seconds=30)
    hang_ups = iter([EOFError("unexpected EOF"), ConnectionRefusedError()])
    real_submit = ProcessPoolExecutor.submit

    def submit_after_hang_ups(executor: object, *args: object, **kwargs: object) -> object:
        failure = next(hang_ups, None)
        if failure is not None:
            raise failure
        return real_submit(executor, *args, **kwargs)  # type: ignore[arg-type]

    body = lines("e", 2 * PARSE_ON_LOOP_BYTES)
    try:
        monkeypatch.setattr(ProcessPoolExecutor, "submit", submit_after_hang_ups)
        twice = await pool.off_loop(mail(12, body))
        once_then_parsed = await pool.off_loop(mail(13, body))
    finally:
        await pool.close()
    assert twice.message_id == "<mail-12@example.com>" and twice.text == ""
    assert twice.defects[0] == "parser process died twice: parsed from the header only"
    assert once_then_parsed.text.split() == body.split() and not once_then_parsed.defects


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_closing_the_pool_leaves_no_worker_behind() -> None:
    pool = ParsePool(workers=2, cpu_seconds=30)
    try:
        body = lines("c", 2 * PARSE_ON_LOOP_BYTES)
        await asyncio.gather(pool.off_loop(mail(14, body)), pool.off_loop(mail(15, body)))
        workers = pool.worker_pids()  # not every child of the shared fork server
        assert workers and all(w in children(fork_server_of(os.getpid())) for w in workers)
    finally:
        await pool.close()
    assert not any(alive(pid) for pid in workers)


async def test_closing_kills_a_worker_past_its_grace_and_still_parses_its_mail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker that outlasts close()'s grace is SIGKILLed: its mail is parsed in the adapter."""
    monkeypatch.setattr(parse_pool, "CLOSE_GRACE_SECONDS", 0.0)
    pool = ParsePool(workers=1, cpu_seconds=0.01, parse=parse_when_released)
    loop = asyncio.get_running_loop()
    body = lines("g", 2 * PARSE_ON_LOOP_BYTES)
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.setblocking(False)
        raw = mail(15, body, extra=f"X-Gate: {gate.getsockname()[1]}\r\n")
        parsed = asyncio.create_task(pool.off_loop(raw))
        in_worker, _ = await asyncio.wait_for(loop.sock_accept(gate), GATE_TIMEOUT)
        with in_worker:  # held open: the worker waits (no CPU used) past the grace
            await asyncio.wait_for(pool.close(), GATE_TIMEOUT)
            in_adapter, _ = await asyncio.wait_for(loop.sock_accept(gate), GATE_TIMEOUT)
            in_adapter.close()
        email = await asyncio.wait_for(parsed, GATE_TIMEOUT)
    assert email.message_id == "<mail-15@example.com>" and not email.defects
    assert email.text.split() == body.split()


ADAPTER_WITH_WORKERS = """
import asyncio, sys
from adapters.inbound.parse_pool import ParsePool
from tests.unit.test_parse_pool import PARSE_ON_LOOP_BYTES, lines, mail

async def main() -> None:
    pool = ParsePool(workers=2, cpu_seconds=30)
    await pool.off_loop(mail(16, lines("k", 2 * PARSE_ON_LOOP_BYTES)))
    print("parsed", flush=True)
    sys.stdin.read()  # until the test kills it

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG, /proc")
async def test_workers_do_not_outlive_a_sigkilled_adapter() -> None:
    """SIGKILL runs no cleanup: the fork server and the workers, deaf to SIGTERM, must still go."""
    adapter = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ADAPTER_WITH_WORKERS,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert adapter.stdout is not None
        line = await asyncio.wait_for(adapter.stdout.readline(), GATE_TIMEOUT)
        assert line == b"parsed\n"
        fork_server = fork_server_of(adapter.pid)
        left = [fork_server, *children(fork_server)]
        assert len(left) >= 2, "the fork server and a worker"
    finally:
        adapter.kill()
        # returns once its stdout closes: once no fork server or worker holds it
        await asyncio.wait_for(adapter.wait(), GATE_TIMEOUT)
    await wait_for(lambda: not any(alive(pid) for pid in left), timeout=GATE_TIMEOUT, what="gone")
