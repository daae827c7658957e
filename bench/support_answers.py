"""How well an agent answers support mail: precision and recall over a table of mails.

    python -m bench.support_answers [--table PATH] [--kb PATH] [--threshold 0.5]

Each mail of the table (tests/fixtures/support_answers.toml) names the article that should
answer it, or "escalate". An answer counts when its confidence reaches the threshold, as the
support flow decides (MAILROOM_KB_CONFIDENCE). Precision: right answers / answers given (a
wrong answer is worse than a person answering). Recall: right answers / mails an article
should answer. Runs in well under a second (not part of `python -m bench`); prints each miss,
then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from use_cases.flows import ClassifyRequest, KbAnswer

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "fixtures" / "support_answers.toml"
ESCALATE = "escalate"
UNNAMED = "(an answer naming no article)"  # sent, but never counted right
MAILBOX = "support@mailroom.local"


class AnswersFromKb(Protocol):
    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer: ...


@dataclass(frozen=True)
class SupportMail:
    subject: str
    body: str
    expected: str  # an article id, or ESCALATE


@dataclass(frozen=True)
class Outcome:
    mail: SupportMail
    answered: str  # the article sent, or ESCALATE
    confidence: float

    @property
    def right(self) -> bool:
        return self.answered == self.mail.expected


@dataclass
class Scores:
    outcomes: list[Outcome] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def answers(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.answered != ESCALATE]

    @property
    def right_answers(self) -> int:
        return sum(o.right for o in self.answers)

    @property
    def precision(self) -> float:
        return self.right_answers / len(self.answers) if self.answers else 1.0

    @property
    def recall(self) -> float:
        answerable = sum(o.mail.expected != ESCALATE for o in self.outcomes)
        return self.right_answers / answerable if answerable else 1.0

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.right]

    def figures(self) -> dict[str, object]:
        return {
            "mails": len(self.outcomes),
            "answers": len(self.answers),
            "right_answers": self.right_answers,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def load_table(path: Path = TABLE) -> list[SupportMail]:
    with open(path, "rb") as source:
        rows = tomllib.load(source)["mail"]
    return [SupportMail(r["subject"], r["body"], r["expected"]) for r in rows]


async def evaluate(
    agent: AnswersFromKb, table: list[SupportMail], threshold: float = 0.5
) -> Scores:
    scores = Scores()
    for mail in table:
        request = ClassifyRequest(mailbox=MAILBOX, subject=mail.subject, text=mail.body)
        kb = await agent.answer_from_kb(request)
        sent = bool(kb.answer) and kb.confidence >= threshold  # as the support flow decides
        answered = (kb.article or UNNAMED) if sent else ESCALATE
        scores.outcomes.append(Outcome(mail, answered, kb.confidence))
        if kb.usage is not None:
            scores.prompt_tokens += kb.usage.prompt_tokens
            scores.completion_tokens += kb.usage.completion_tokens
    return scores


def main() -> int:
    from adapters.agents.rules import RuleBasedAgent, load_knowledge_base

    parser = argparse.ArgumentParser(prog="python -m bench.support_answers", description=__doc__)
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--kb", type=Path, help="a knowledge base file (default: shipped)")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    agent = RuleBasedAgent(load_knowledge_base(args.kb) if args.kb else None)
    scores = asyncio.run(evaluate(agent, load_table(args.table), args.threshold))
    for miss in scores.misses:
        print(
            f"miss: expected {miss.mail.expected}, got {miss.answered} "
            f"({miss.confidence:.2f}): {miss.mail.subject!r}"
        )
    print(json.dumps(scores.figures()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
