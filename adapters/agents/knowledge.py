"""The offline support agent's knowledge base: articles, and which one answers a mail.

An article scores the weighted evidence a mail holds for it: keywords (1 point), strong words
and phrases (3 points); an `exclude` match rules it out. The best article's confidence grows
with its score and shrinks when a second article matches too: a wrong answer is worse than
a person answering, so an unclear mail goes to a person. The file format is described in the
shipped `knowledge_base.toml` and in docs/agents.md.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, Field, PrivateAttr

from adapters.agents.knowledge_text import unquoted, without_praise
from use_cases.flows import ClassifyRequest, KbAnswer

DEFAULT_KB = Path(__file__).with_name("knowledge_base.toml")
WORD = re.compile(r"[a-z0-9]+")
# A reply's subject repeats the question already answered: only its text says what is new
# ("Re: Invoice copy" then "Got it, thanks!").
REPLY = re.compile(r"^\s*(re|aw|antw|sv|vs|tr|rif)\s*:", re.I)
KEYWORD_POINTS = 1.0
STRONG_POINTS = 3.0
# The score at which a rich article's confidence reaches 0.5: one strong match, or three
# keywords. An article with fewer points in all needs half of them (a file with four plain
# keywords per article answers, as before, when two of them match).
HALF_CONFIDENCE_POINTS = 3.0
# Evidence for the runner-up counts this much against the best article.
RIVAL_WEIGHT = 0.5
# At most this many other words between two words of a phrase.
PHRASE_GAP = 3
# Ending stripped from a word so that its forms match (crash, crashes, crashed, crashing);
# the first that leaves at least MIN_STEM letters.
ENDINGS = ("ing", "ed", "es", "en", "er", "s", "e")
MIN_STEM = 4
# A person answers a mail that says our earlier answer did not help, thanks us for one that
# did, asks for a person, or reports a break-in or a dispute, even when it names an
# article's subject again.
PERSON_NEEDED = (
    "did not help", "didn t help", "does not help", "doesn t help", "not helpful",
    "did not work", "didn t work", "does not work either", "still cannot", "still can t",
    "still does not work", "still doesn t work", "still not working", "still the same",
    "already tried", "tried that", "tried this", "tried everything", "your answer",
    "your reply", "speak to a human", "real person", "talk to someone",
    "hat nicht geholfen", "hilft nicht", "nicht geholfen", "immer noch nicht moglich",
    "funktioniert immer noch nicht", "klappt immer noch nicht", "schon versucht",
    "bereits versucht", "ihre antwort", "mit einem menschen", "mitarbeiter sprechen",
    "n a pas aide", "ne m a pas aide", "ne marche toujours pas",
    "ne fonctionne toujours pas", "deja essaye", "votre reponse", "parler a quelqu un",
    "thanks worked", "that worked", "problem solved", "hat geklappt", "ca a marche",
    "hacked", "gehackt", "pirate", "compromised", "fraud", "betrug", "fraude",
    "lawyer", "anwalt", "avocat", "chargeback",
    "followed your instructions", "followed the instructions", "followed the steps",
    "third time", "anleitung befolgt", "zum dritten mal", "suivi vos instructions",
    "suivi les instructions", "troisieme fois",
)  # fmt: skip


def normalised(text: str) -> str:
    """Lower case without accents: "Rückerstattung" → "ruckerstattung", "ß" → "ss"."""
    if text.isascii():
        return text.lower()  # the common case, and the second pass over text already folded
    folded = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in folded if not unicodedata.combining(c))


def words(text: str) -> set[str]:
    return set(WORD.findall(normalised(text)))


@functools.lru_cache(maxsize=4096)  # mails repeat their words: a 40 KB mail has few distinct
def stem(word: str) -> str:
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


@dataclass(frozen=True)
class WordPattern:
    """One word of a phrase: its stem, or with `*` a compound's beginning or end."""

    stem: str
    wildcard: re.Pattern[str] | None

    def matches(self, word: str, word_stem: str) -> bool:
        if self.wildcard is not None:
            return self.wildcard.fullmatch(word) is not None
        return word_stem == self.stem


Phrase = tuple[WordPattern, ...]


def phrase(text: str) -> Phrase:
    patterns = []
    for part in re.findall(r"[a-z0-9*]+", normalised(text)):
        bare = part.strip("*")
        if part != bare:
            wildcard = re.compile(".*".join(re.escape(p) for p in part.split("*")))
            patterns.append(WordPattern(bare, wildcard))
        elif bare:
            patterns.append(WordPattern(stem(bare), None))
    return tuple(patterns)


class Mail:
    """A mail's words in order, with their stems, to look phrases up in."""

    def __init__(self, text: str) -> None:
        self.words = WORD.findall(normalised(text))
        self.stems = [stem(w) for w in self.words]
        # where each stem occurs: a phrase's first word is looked up, not searched for, so
        # a long mail costs little more than a short one
        self.at_stem: dict[str, list[int]] = {}
        for index, word_stem in enumerate(self.stems):
            self.at_stem.setdefault(word_stem, []).append(index)

    @functools.cached_property
    def at_word(self) -> dict[str, list[int]]:
        """Where each word occurs: a wildcard is tried once per distinct word."""
        at_word: dict[str, list[int]] = {}
        for index, word in enumerate(self.words):
            at_word.setdefault(word, []).append(index)
        return at_word

    def has(self, wanted: Phrase) -> bool:
        return self.where(wanted) is not None

    def where(self, wanted: Phrase) -> tuple[int, ...] | None:
        """The positions of the words of the phrase's first match; None when it has none."""
        if not wanted:
            return None
        first = wanted[0]
        if first.wildcard is None:
            starts: Iterable[int] = self.at_stem.get(first.stem, ())
        else:
            starts = self._wildcard_starts(first.wildcard)
        for start in starts:
            found = self._rest_follows(wanted[1:], start)
            if found is not None:
                return (start, *found)
        return None

    def _wildcard_starts(self, wildcard: re.Pattern[str]) -> list[int]:
        """Where a word the wildcard matches occurs, in the mail's order (as a scan of every
        word finds them): each distinct word is matched once."""
        found = (at for word, at in self.at_word.items() if wildcard.fullmatch(word))
        return sorted(index for at in found for index in at)

    def _at(self, pattern: WordPattern, index: int) -> bool:
        return pattern.matches(self.words[index], self.stems[index])

    def _rest_follows(self, rest: Sequence[WordPattern], after: int) -> list[int] | None:
        positions = []
        for pattern in rest:
            window = range(after + 1, min(after + 2 + PHRASE_GAP, len(self.words)))
            found = next((i for i in window if self._at(pattern, i)), None)
            if found is None:
                return None
            positions.append(found)
            after = found
        return positions


T = TypeVar("T")


class StartIndex(Generic[T]):
    """Phrases (or what holds them) by the stem of their first word: a mail can match only
    those whose first stem it has, and those that start with a wildcard. An article has
    dozens of phrases and a mail a few of their stems: one set intersection rules the rest
    out. Which phrases match, and so the points, are as when every phrase is looked up."""

    def __init__(self, items: Iterable[T], phrase_of: Callable[[T], Phrase]) -> None:
        self.by_stem: dict[str, list[T]] = {}
        self.wildcards: list[T] = []
        for item in items:
            wanted = phrase_of(item)
            if not wanted:
                continue  # an empty phrase matches nothing
            if wanted[0].wildcard is not None:
                self.wildcards.append(item)
            else:
                self.by_stem.setdefault(wanted[0].stem, []).append(item)

    def in_reach(self, mail: Mail) -> list[T]:
        shared = self.by_stem.keys() & mail.at_stem.keys()
        return [*self.wildcards, *(item for stem in shared for item in self.by_stem[stem])]


class Article(BaseModel):
    id: str
    keywords: list[str]
    answer: str
    strong: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    category: str | None = None
    _terms: list[tuple[Phrase, float]] = PrivateAttr(default_factory=list)
    _excluded: list[Phrase] = PrivateAttr(default_factory=list)
    _terms_by_start: StartIndex[tuple[Phrase, float]] = PrivateAttr()
    _excluded_by_start: StartIndex[Phrase] = PrivateAttr()

    def model_post_init(self, context: object) -> None:
        self._terms = [(phrase(k), KEYWORD_POINTS) for k in self.keywords]
        self._terms += [(phrase(s), STRONG_POINTS) for s in self.strong]
        self._excluded = [phrase(e) for e in self.exclude]
        self._terms_by_start = StartIndex(self._terms, lambda term: term[0])
        self._excluded_by_start = StartIndex(self._excluded, lambda excluded: excluded)

    @property
    def most_points(self) -> float:
        return sum(points for _, points in self._terms)

    def points(self, mail: Mail, explained: frozenset[int] = frozenset()) -> float | None:
        """The evidence `mail` holds for this article; None when an exclusion rules it out.
        A match whose words are all `explained` (by another article's phrase) counts not."""
        if any(mail.has(p) for p in self._excluded_by_start.in_reach(mail)):
            return None
        terms = self._terms_by_start.in_reach(mail)
        found = ((mail.where(p), points) for p, points in terms)
        return sum(points for at, points in found if at is not None and not explained >= set(at))

    def explains(self, mail: Mail) -> frozenset[int]:
        """The words of `mail` its phrases of two words or more match: "not received the
        refund" is about a refund, its "not received" no evidence for a delivery article."""
        terms = self._terms_by_start.in_reach(mail)
        found = (mail.where(p) for p, _ in terms if len(p) > 1)
        return frozenset(i for at in found if at is not None for i in at)


def load_knowledge_base(path: Path = DEFAULT_KB) -> list[Article]:
    with open(path, "rb") as source:
        data = tomllib.load(source)
    return [Article.model_validate(a) for a in data.get("article", [])]


PERSON_NEEDED_PHRASES = tuple(phrase(p) for p in PERSON_NEEDED)


def best_answer(articles: list[Article], request: ClassifyRequest) -> KbAnswer:
    """The article that answers the mail, with a confidence; an empty answer if none matches.
    Below the flow's threshold (0.5 by default) the mail goes to a person."""
    body = unquoted(request.text)
    text = body if REPLY.match(request.subject) else f"{request.subject}\n{body}"
    whole = " ".join(WORD.findall(normalised(text)))
    praised = without_praise(whole)
    mail = Mail(praised)
    scored = [(a.points(mail), a) for a in articles]
    ranked = sorted(((p, a) for p, a in scored if p), key=lambda pa: pa[0], reverse=True)
    if not ranked:
        return KbAnswer()
    points, best = ranked[0]
    explained = best.explains(mail)
    rival = max((a.points(mail, explained) or 0.0 for _, a in ranked[1:]), default=0.0)
    confidence = _confidence(points - RIVAL_WEIGHT * rival, best.most_points)
    if _two_subjects(points, rival) or _needs_person(mail if praised == whole else Mail(whole)):
        confidence = min(confidence, 0.2)  # shown to the team as the likely topic
    return KbAnswer(answer=best.answer, confidence=round(confidence, 2), article=best.id)


def _needs_person(mail: Mail) -> bool:
    """Read on the whole mail: "that worked fine, thanks" is praise and a thank-you."""
    return any(mail.has(p) for p in PERSON_NEEDED_PHRASES)


def _two_subjects(best: float, rival: float) -> bool:
    """The runner-up has a strong match of its own and half the evidence: the mail asks two
    things (cancel and refund), and one article would answer only half of it."""
    return rival >= STRONG_POINTS and rival >= best / 2


def _confidence(evidence: float, most_points: float) -> float:
    half = min(HALF_CONFIDENCE_POINTS, most_points / 2)
    return max(evidence, 0.0) / (max(evidence, 0.0) + half) if half > 0 else 0.0
