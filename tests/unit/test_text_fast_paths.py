"""The ASCII shortcuts of the per-mail text helpers read text exactly as the general
character-by-character path does (they only skip work, never change an answer)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from use_cases.machine_mail_signs import fold
from use_cases.thread_labels import plain_line


def folded_char_by_char(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def plain_char_by_char(text: str, limit: int = 200) -> str:
    printable = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text
    )
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


ASCII = st.text(alphabet=st.characters(max_codepoint=127))


@given(st.one_of(ASCII, st.text()))
def test_folding_ascii_or_not_reads_phrases_as_the_general_path_does(text: str) -> None:
    assert fold(text) == folded_char_by_char(text)


@given(st.one_of(ASCII, st.text()))
def test_a_line_for_the_web_ui_is_the_same_whichever_path_made_it(text: str) -> None:
    assert plain_line(text) == plain_char_by_char(text)


def test_accented_and_upper_case_phrases_still_fold_alike() -> None:
    assert fold("RÉPONSE AUTOMATIQUE") == fold("reponse automatique") == "reponse automatique"
