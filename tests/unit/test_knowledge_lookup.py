"""The knowledge base looks phrases up by their first word's stem: the points an article
scores are those every phrase looked up one by one gives, wildcards included."""

from __future__ import annotations

from adapters.agents.knowledge import Article, Mail, phrase


def scored_one_by_one(article: Article, mail: Mail) -> float:
    """The points as the plain definition has them: every phrase tried in turn."""
    terms = [(phrase(k), 1.0) for k in article.keywords]
    terms += [(phrase(s), 3.0) for s in article.strong]
    return sum(points for wanted, points in terms if mail.where(wanted) is not None)


ARTICLE = Article(
    id="refund",
    keywords=["refund", "money back", "*geld", "charged twice"],
    strong=["refund not received", "rück*"],
    answer="Refunds take five working days.",
)


def test_an_article_scores_what_each_of_its_phrases_finds() -> None:
    for text in (
        "I was charged twice and want my money back",
        "Wo bleibt mein Rückgeld? Refund please",
        "my refund is still not received after a week",
        "nothing about payments at all",
        "",
    ):
        mail = Mail(text)
        assert ARTICLE.points(mail) == scored_one_by_one(ARTICLE, mail), text


def test_a_wildcard_phrase_is_found_at_its_first_place_in_the_mail() -> None:
    mail = Mail("Taschengeld then Rückgeld then Wechselgeld")
    assert mail.where(phrase("*geld")) == (0,)
    assert mail.where(phrase("*geld then")) == (0, 1)
    assert mail.where(phrase("ruck* then *geld")) == (2, 3, 4)
