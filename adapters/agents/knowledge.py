"""The offline support agent's knowledge base: articles, and which one answers a mail."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from use_cases.flows import ClassifyRequest, KbAnswer

DEFAULT_KB = Path(__file__).with_name("knowledge_base.toml")
WORD = re.compile(r"[a-zà-ÿ]+", re.I)


class Article(BaseModel):
    id: str
    keywords: list[str]
    answer: str


def load_knowledge_base(path: Path = DEFAULT_KB) -> list[Article]:
    with open(path, "rb") as source:
        data = tomllib.load(source)
    return [Article.model_validate(a) for a in data.get("article", [])]


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def best_answer(articles: list[Article], request: ClassifyRequest) -> KbAnswer:
    """The article that answers the mail, with a confidence; an empty answer if none does."""
    seen = words(f"{request.subject} {request.text}")
    best, score = None, 0.0
    for article in articles:
        keys = {k.lower() for k in article.keywords}
        matched = len(seen & keys) / len(keys) if keys else 0.0
        if matched > score:
            best, score = article, matched
    if best is None:
        return KbAnswer()
    return KbAnswer(answer=best.answer, confidence=round(score, 2), article=best.id)
