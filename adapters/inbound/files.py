"""Mail from disk: .eml files, directories of them, and mbox files."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


def is_mbox(path: Path) -> bool:
    with open(path, "rb") as source:
        return source.read(5) == b"From "


def read_messages(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) for every message under `paths`, in a stable order."""
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            yield from read_messages(files)
        elif is_mbox(path):
            box = mailbox.mbox(path, create=False)
            try:
                for index, key in enumerate(box.iterkeys()):
                    yield f"{path}#{index + 1}", box.get_bytes(key)
            finally:
                box.close()
        else:
            yield str(path), path.read_bytes()
