"""`mailroom keys`: the encryption keys' ids, and a fresh key to rotate to (issue 22).

A rotation appends a key (the newest encrypts, every one decrypts): docs/operations.md."""

from __future__ import annotations

import argparse
import base64
import sys
from typing import Any

from adapters.outbound.key_ring import KEY_ID, KeyRing, new_key_entry
from orchestrator.cli_errors import CliError
from orchestrator.encryption_keys import key_ring
from orchestrator.settings import Settings


def add_keys_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the encryption keys: list their ids, make a new one")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="the ids of the keys in use, oldest first (no key)")
    new = actions.add_parser("new", help="print a fresh key as an `id:base64key` entry")
    new.add_argument("key_id", metavar="ID", help="its id: 1-32 letters, digits, '.', '_', '-'")
    new.add_argument(
        "--ring",
        action="store_true",
        help="print the whole ring to set instead: the keys in use, then the new one "
        "(secrets: write it where MAILROOM_ENCRYPTION_KEYS_FILE reads)",
    )


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    if args.keys_command == "list":
        ring = key_ring(settings)
        for key_id, _ in ring.keys:
            print(f"{key_id}  (encrypts)" if key_id == ring.current else key_id)
        return 0
    if not KEY_ID.fullmatch(args.key_id):
        raise CliError(f"keys new: id {args.key_id!r}: 1-32 letters, digits, '.', '_', '-'")
    entry = new_key_entry(args.key_id)
    if args.ring:
        entry = ",".join([*ring_entries(key_ring(settings), args.key_id), entry])
    print(entry)
    print(
        "the last entry of MAILROOM_ENCRYPTION_KEYS encrypts; keep the older ones", file=sys.stderr
    )
    return 0


def ring_entries(ring: KeyRing, new_id: str) -> list[str]:
    if new_id in dict(ring.keys):
        raise CliError(f"keys new: the ring already has a key {new_id!r}")
    return [f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in ring.keys]
