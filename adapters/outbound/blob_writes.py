"""The blob store's file writes, group-committed: the files of concurrent `put`s written in
one trip to the store's writer thread, each fsynced, and each directory they were renamed
into fsynced once for the group instead of once per file (durable_files: the name is durable
only with its directory's fsync). A caller's `put` returns when its group is done, so its
blob is durable by then. A failed write (a full disk) fails its own caller; a failed
directory fsync fails every caller whose file went into that directory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.outbound.durable_files import make_directory, sync_directory, write_atomically

IsThere = Callable[[Path, int], bool]  # whether the blob's file is there, with this size


@dataclass(frozen=True)
class BlobWrite:
    path: Path
    data: bytes
    sha256: str
    # The raw mail's Message-ID pointer, written once the blob is durable (not fsynced: see
    # blob_store).
    pointer: Path | None = None


WriteGroup = Callable[[Sequence["BlobWrite"]], list[Exception | None]]


def write_group(writes: Sequence[BlobWrite], is_there: IsThere) -> list[Exception | None]:
    """One outcome per write: None once its file and name are durable, or its error."""
    outcomes: list[Exception | None] = [None] * len(writes)
    directories: dict[Path, list[int]] = {}
    for index, write in enumerate(writes):
        try:
            _write_file(write, is_there)
        except Exception as exc:
            outcomes[index] = exc
        else:
            directories.setdefault(write.path.parent, []).append(index)
    for directory, indexes in directories.items():
        try:
            sync_directory(directory)
        except Exception as exc:
            for index in indexes:
                outcomes[index] = exc
    for index, write in enumerate(writes):
        if write.pointer is not None and outcomes[index] is None:
            try:
                write_atomically(write.pointer, write.sha256.encode(), durable=False)
            except Exception as exc:
                outcomes[index] = exc
    return outcomes


def _write_file(write: BlobWrite, is_there: IsThere) -> None:
    if is_there(write.path, len(write.data)):
        # Written before, maybe by a writer still short of its directory's fsync: the
        # group's fsync of the directory covers it.
        make_directory(write.path.parent)
    else:
        write_atomically(write.path, write.data, sync_parent=False)
