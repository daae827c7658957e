"""Parsing throughput over tests/fixtures/corpus (not a timed test; prints JSON).

    python -m bench.parse [--rounds N]

Compares, in the same run on the same messages:
- `stdlib_default`: `email.message_from_bytes(raw, policy=policy.default)` plus `get_body()`
  and its content, what a straightforward implementation does;
- `stdlib_compat32`: the stdlib parser alone with the compat32 policy (the floor we build on);
- `mailroom`: `parse_email` (charsets, addresses, new text, attachments, report) plus
  `thread_key`, i.e. everything ingest does before the hand-off.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from adapters.inbound.mime import parse_email
from use_cases.threading import thread_key

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "corpus"


def corpus() -> list[bytes]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    return [p.read_bytes() for p in files if p.name not in {"LICENSE", "README.md"}]


def stdlib_default(raw: bytes) -> None:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()
    except Exception:  # the stdlib raises on some corpus mail; we only time it
        pass
    str(msg.get("Subject", "")), str(msg.get("From", ""))


def stdlib_compat32(raw: bytes) -> None:
    message_from_bytes(raw, policy=policy.compat32)


def mailroom(raw: bytes) -> None:
    thread_key(parse_email(raw), mailbox="support@mailroom.local")


def rate(parse: Callable[[bytes], None], mails: list[bytes], rounds: int) -> dict[str, float]:
    started = time.process_time()
    for _ in range(rounds):
        for raw in mails:
            parse(raw)
    cpu = time.process_time() - started
    count = len(mails) * rounds
    return {
        "messages_per_s": round(count / cpu, 1),
        "cpu_ms_per_message": round(cpu / count * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    mails = corpus()
    results = {
        name: rate(fn, mails, args.rounds)
        for name, fn in [
            ("stdlib_default", stdlib_default),
            ("stdlib_compat32", stdlib_compat32),
            ("mailroom", mailroom),
        ]
    }
    mine = results["mailroom"]["messages_per_s"]
    print(
        json.dumps(
            {
                "messages": len(mails),
                "bytes": sum(len(m) for m in mails),
                "rounds": args.rounds,
                **results,
                "mailroom_vs_stdlib_default": round(
                    mine / results["stdlib_default"]["messages_per_s"], 2
                ),
                "mailroom_vs_stdlib_compat32": round(
                    mine / results["stdlib_compat32"]["messages_per_s"], 2
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
