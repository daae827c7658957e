"""A random key kept in the data directory, made once by whichever process comes first.

Processes of one installation start together (`mailroom worker` and `mailroom smtp` under a
supervisor) and must sign and check reply tokens with the same key. The key is written whole
to a private temporary file and then hard-linked into place: the link either appears with
the complete key or fails because another process's key is already there, which is then the
one used. A reader never sees a file that exists but is still empty."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from adapters.outbound.durable_files import sync_directory
from orchestrator.startup_checks import StartupError, reason

KEY_BYTES = 32


def shared_key(path: Path) -> bytes:
    """The key in `path`, made now if there is none (hex text, mode 0600)."""
    key = _read(path)
    if key is None:
        _make(path)
        key = _read(path)
    if not key:
        raise StartupError(
            f"MAILROOM_DATA_DIR: {path} is empty: remove it and a new key is made at the next "
            "start (reply addresses signed with the lost key no longer match)"
        )
    return key


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StartupError(f"MAILROOM_DATA_DIR: cannot read {path}: {reason(exc)}") from None


def _make(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        # FileExistsError: another process linked its key first, and that one is everyone's
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        # The name too, or a power loss may lose the key after tokens were signed with it
        sync_directory(path.parent)
    except OSError as exc:
        raise StartupError(f"MAILROOM_DATA_DIR: cannot create {path}: {reason(exc)}") from None
    finally:
        temporary.unlink(missing_ok=True)
