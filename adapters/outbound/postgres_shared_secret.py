"""A random secret in PostgreSQL, made once by whichever node comes first.

Nodes naming one database must sign and check reply tokens with one key, without the operator
setting it: the first node to start inserts a random value and every node, that one included,
reads back the row that won (`INSERT … ON CONFLICT DO NOTHING`, then `SELECT`), so nodes
starting at the same moment agree too."""

from __future__ import annotations

import secrets

import psycopg

from adapters.outbound.postgres import DatabaseUnavailable, connect

SECRET_BYTES = 32


def shared_secret(url: str, name: str) -> bytes:
    """The secret `name` (hex text, as the data directory's key file), made now if absent.
    Raise DatabaseUnavailable when the database cannot be read (its schema must be migrated)."""
    try:
        with connect(url) as db:
            db.execute(
                "INSERT INTO shared_secrets (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_hex(SECRET_BYTES)),
            )
            row = db.execute("SELECT value FROM shared_secrets WHERE name = %s", (name,)).fetchone()
    except psycopg.Error as error:
        shown = str(error).strip()
        raise DatabaseUnavailable(
            shown.splitlines()[0] if shown else type(error).__name__
        ) from error
    if row is None:  # only a concurrent DELETE, which mailroom never issues
        raise DatabaseUnavailable(f"shared secret {name!r} vanished after being made")
    return str(row[0]).encode()
