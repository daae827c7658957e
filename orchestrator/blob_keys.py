"""The keys blobs are sealed and named with (adapters/outbound/blob_sealing.py): the
installation's key ring (orchestrator/encryption_keys.py) seals them; a separate key, made
once and shared as the reply-token key is (in the database when there is one, else in the
data directory), names them. Losing the naming key loses only deduplication against the
blobs named before (they are found by the address their references hold); it is not an
encryption key, and rotating those leaves every address as it was."""

from __future__ import annotations

from adapters.outbound.blob_sealing import BlobSealing
from orchestrator.encryption_keys import key_ring, made_key
from orchestrator.key_file import shared_key
from orchestrator.settings import Settings
from orchestrator.stores import database_key

ADDRESS_KEY_FILE = "blob-address.key"
ADDRESS_KEY_NAME = "blob-address"


def blob_sealing(settings: Settings) -> BlobSealing:
    return BlobSealing(key_ring(settings), _address_key(settings))


def _address_key(settings: Settings) -> bytes:
    if settings.database_url:
        made = database_key(settings.database_url, ADDRESS_KEY_NAME)
        return made_key(made, f"MAILROOM_DATABASE_URL: shared secret {ADDRESS_KEY_NAME!r}")
    path = settings.data_dir / ADDRESS_KEY_FILE
    return made_key(shared_key(path), f"MAILROOM_DATA_DIR: {path}")
