"""What total parsing costs (not a timed test; prints JSON).

    python -m bench.parse_total [--rounds N] [--crafted-before-up-to KIB]

In the same run, on the same messages (tests/fixtures/corpus), CPU time per message of
`parse_email` as it is and with its last step, the printable pass (`mime.printable`: no
control character or lone surrogate leaves the parser), left out: the ratio is that pass's
cost. And the rate at which poison mail (a charset naming a non-text codec, one refusing
errors="replace", a lone surrogate; see docs/mail-trust.md) parses, against the corpus.
And the CPU time of mail crafted against the stdlib's quadratic parameter parsing (a
Content-Type or Content-Disposition `a=";;;…"` of 7, 64 and 256 KB) as parsed now, with
its parameter headers cut (adapters/inbound/mime_params.py), against the same parse with them
handed to the stdlib uncut, up to --crafted-before-up-to KB (256 KB took minutes).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import adapters.inbound.mime as mime
import adapters.inbound.mime_params as mime_params
from adapters.inbound.parse_pool import header_only
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


CRAFTED_KIB = (7, 64, 256)


def crafted(header: str, kib: int) -> bytes:
    """A multipart mail whose Content-Type, or its attachment's Content-Disposition, carries
    `kib` KB of quoted semicolons ahead of the parameters the parser reads."""
    poison = 'a="' + ";" * (kib * 1024) + '"'
    ctype = f"multipart/mixed; {poison}; boundary=b" if header == "ctype" else ""
    disposition = f"attachment; {poison}; filename=r.pdf" if header == "cdisp" else ""
    return (
        "From: a@example.com\r\nMessage-ID: <crafted@example.com>\r\n"
        f"Content-Type: {ctype or 'multipart/mixed; boundary=b'}\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        f"Content-Disposition: {disposition or 'attachment; filename=r.pdf'}\r\n\r\n"
        "%PDF\r\n--b--\r\n"
    ).encode()


def every_value_within_limits(value: str) -> bool:
    """The parser as it was: every header handed to the stdlib as it came."""
    return True


def parse_cpu_s(raw: bytes) -> float:
    started = time.process_time()
    mime.parse_email(raw)
    return round(time.process_time() - started, 4)


def crafted_figures(before_up_to: int) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    for header in ("ctype", "cdisp"):
        for kib in CRAFTED_KIB:
            raw = crafted(header, kib)
            figures[f"{header}_{kib}kb_cpu_s"] = parse_cpu_s(raw)
            before = None
            if kib <= before_up_to:
                kept = mime_params.within_limits
                mime_params.within_limits = every_value_within_limits
                try:
                    before = parse_cpu_s(raw)
                finally:
                    mime_params.within_limits = kept
            figures[f"{header}_{kib}kb_uncut_cpu_s"] = before
    raw = crafted("ctype", 256)
    started = time.process_time()
    header_only(raw, "the parse pool's last resort")
    figures["header_only_ctype_256kb_cpu_s"] = round(time.process_time() - started, 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crafted-before-up-to", type=int, default=64, metavar="KIB")
    args = parser.parse_args()
    rounds = args.rounds
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
                **crafted_figures(args.crafted_before_up_to),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
