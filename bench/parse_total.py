"""What total parsing costs (not a timed test; prints JSON).

    python -m bench.parse_total [--rounds N]

In the same run, on the same messages (tests/fixtures/corpus), CPU time per message of
`parse_email` as it is and with its last step, the printable pass (`mime.printable`: no
control character or lone surrogate leaves the parser), left out: the ratio is that pass's
cost. And the rate at which poison mail (a charset naming a non-text codec, one refusing
errors="replace", a lone surrogate; see docs/mail-trust.md) parses, against the corpus.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import adapters.inbound.mime as mime
from bench.parse import corpus
from use_cases.mail import InboundEmail

POISON_LABELS = ("rot13", "zlib", "base64", "hex", "uu", "bz2", "quopri", "idna", "punycode")


def poison(label: str) -> bytes:
    word = f"=?{label}?Q?caf=E9_=1Bc_red?="
    return (
        f"Message-ID: <{label}@x>\r\nFrom: {word} <a@b.example>\r\nSubject: {word}\r\n"
        f"Content-Type: text/plain; charset={label}\r\n\r\nbody caf\xe9 +2AA-\r\n"
    ).encode("latin-1")


def cpu_ms_per_message(mails: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for raw in mails:
            mime.parse_email(raw)
        best = min(best, time.process_time() - started)
    return best / len(mails) * 1000


def without_printable(measure: Callable[[], float]) -> float:
    kept = mime.printable

    def identity(email: InboundEmail) -> InboundEmail:
        return email

    mime.printable = identity
    try:
        return measure()
    finally:
        mime.printable = kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    mails = corpus()
    poisoned = [poison(label) for label in POISON_LABELS] * 10
    # Alternated, best of three each: neither gains from running second (a warm cache).
    totals, baselines = [], []
    for _ in range(3):
        totals.append(cpu_ms_per_message(mails, rounds))
        baselines.append(without_printable(lambda: cpu_ms_per_message(mails, rounds)))
    total, baseline = min(totals), min(baselines)
    poison_ms = cpu_ms_per_message(poisoned, rounds)
    print(
        json.dumps(
            {
                "messages": len(mails),
                "rounds": rounds,
                "corpus_cpu_ms_per_message": round(total, 3),
                "corpus_without_printable_cpu_ms_per_message": round(baseline, 3),
                "printable_pass_ratio": round(total / baseline, 3),
                "poison_cpu_ms_per_message": round(poison_ms, 3),
                "poison_messages_per_s": round(1000 / poison_ms, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
