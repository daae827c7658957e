"""A clone is the whole product: no file in the repository reaches for a path beside it.

A user's clone has nothing next to it, so a test, benchmark or document that reads the
workspace's shared folder works here and fails (or silently skips) for them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import ROOT

# Built from parts so this file does not match itself.
OUTSIDE = ("../" + "shared", '/ "' + 'shared"', "parent.parent" + ".parent")


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        return [ROOT / n for n in names if (ROOT / n).is_file()]
    skipped = {".git", ".venv", ".mailroom", "__pycache__", ".mypy_cache", ".ruff_cache"}
    return [
        p for p in ROOT.rglob("*") if p.is_file() and not skipped & set(p.relative_to(ROOT).parts)
    ]


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    files = repository_files()
    assert len(files) > 100, "the repository's files were not found"
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in files
        if path.suffix in {".py", ".md", ".toml", ".cfg", ".ini", ".txt", ""}
        and "fixtures/corpus" not in path.as_posix()
        for needle in OUTSIDE
        if needle in path.read_text(errors="replace")
    ]
    assert not offenders, offenders


def test_the_corpus_ships_with_its_licences() -> None:
    corpus = ROOT / "tests" / "fixtures" / "corpus"
    sources = [p for p in corpus.iterdir() if p.is_dir()]
    assert {p.name for p in sources} >= {"ruby-mail", "reply-parser", "mail-parser"}
    for source in sources:
        assert (source / "LICENSE").is_file(), source
        assert source.name in (corpus / "README.md").read_text()
