"""Blobs at rest (issue 22), on a directory (one node's, or one the nodes mount with their
references in PostgreSQL) and in PostgreSQL: what a mail stores is sealed, named by a keyed
hash, read back whole only by mailroom, refused loudly when changed, and blobs an older
mailroom stored in clear still read."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest

from adapters.inbound.mime import parse_email
from adapters.outbound.blob_sealing import MAGIC, BlobSealing, BlobUnreadable
from adapters.outbound.blob_store import FileBlobStore, blobs_under
from adapters.outbound.key_ring import KeyRing
from adapters.outbound.postgres import migrate
from adapters.outbound.postgres_blob_refs import PostgresBlobReferences
from adapters.outbound.postgres_blob_store import PostgresBlobStore
from adapters.outbound.postgres_pool import Database
from use_cases.claim_check import claim_check

SUBJECT = "Quarterly zebra-marmalade audit"
BODY = "The phrase to look for is ultraviolet-pangolin-4711."
ATTACHMENT = b"%PDF-1.4\n" + b"octopus-ledger-9931 " * 64
KEYS = KeyRing((("k0", os.urandom(32)),))
SEALING = BlobSealing(KEYS, address_key=os.urandom(32))

Store = FileBlobStore | PostgresBlobStore


def mail() -> bytes:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = "sales@example.com"
    message["Subject"] = SUBJECT
    message["Message-ID"] = "<audit-1@example.com>"
    message.set_content(BODY)
    message.add_attachment(ATTACHMENT, maintype="application", subtype="pdf", filename="a.pdf")
    return message.as_bytes()


MAIL = mail()  # once: its MIME boundary is random


@dataclass
class Backend:
    """Where the blobs are: `node(sealing)` is a new node's store on them."""

    kind: str
    root: Path
    url: str = ""
    made: list[Store] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)

    def node(self, sealing: BlobSealing | None = SEALING) -> Store:
        """`sealing` None: the store as mailroom wrote blobs before they were sealed."""
        store: Store
        if self.kind == "postgres":
            store = PostgresBlobStore(self.url, sealing=sealing)
        elif self.url:
            self.databases.append(Database(self.url))
            refs = PostgresBlobReferences(self.databases[-1], lambda: blobs_under(self.root))
            store = FileBlobStore(self.root, references=refs, sealing=sealing)
        else:
            store = FileBlobStore(self.root, sealing=sealing)
        self.made.append(store)
        return store

    def everything_stored(self) -> bytes:
        """Every name and byte kept: files under the directory's parent (blobs, raw
        pointers, the references' SQLite), or every row of the blob tables."""
        if self.kind == "postgres":
            with psycopg.connect(self.url) as db:
                rows = [
                    repr(row).encode() + b"".join(v for v in row if isinstance(v, bytes))
                    for table in ("blobs", "raw_messages", "blob_references", "blob_pins")
                    for row in db.execute(f"SELECT * FROM {table}").fetchall()  # our names
                ]
            return b"\n".join(rows)
        return b"\n".join(
            str(path).encode() + b"\n" + path.read_bytes()
            for path in sorted(self.root.parent.rglob("*"))
            if path.is_file()
        )

    def blob_count(self) -> int:
        if self.kind == "postgres":
            with psycopg.connect(self.url) as db:
                row = db.execute("SELECT count(*) FROM blobs").fetchone()
            return int(row[0]) if row else 0
        return sum(1 for _ in blobs_under(self.root))

    def stored(self, address: str) -> bytes:
        if self.kind == "postgres":
            with psycopg.connect(self.url) as db:
                row = db.execute("SELECT data FROM blobs WHERE sha256 = %s", (address,)).fetchone()
            assert row is not None
            return bytes(row[0])
        return (self.root / address[:2] / address).read_bytes()

    def overwrite(self, address: str, data: bytes) -> None:
        """What someone with access to the disk or the database does to a blob."""
        if self.kind == "postgres":
            with psycopg.connect(self.url) as db:
                db.execute("UPDATE blobs SET data = %s WHERE sha256 = %s", (data, address))
            return
        path = self.root / address[:2] / address
        path.chmod(0o600)
        path.write_bytes(data)


@pytest.fixture(params=["directory", "directory+postgres", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    url = request.getfixturevalue("postgres_url") if "postgres" in request.param else ""
    if url:
        migrate(url)
    place = Backend(request.param, tmp_path / "mount" / "blobs", url)
    yield place
    for store in place.made:
        await store.close()
    for database in place.databases:
        await database.close()


async def store_mail(store: Store) -> tuple[str, str]:
    """Stored as mailroom stores a received mail: (raw mail's address, attachment's)."""
    stored = await claim_check(parse_email(MAIL), MAIL, store)
    await store.settle(stored.refs)
    blob = stored.attachments[0].blob
    assert stored.raw is not None and blob is not None
    return stored.raw.sha256, blob.sha256


async def test_a_stored_mail_is_nowhere_in_clear_and_reads_back_whole(backend: Backend) -> None:
    smtp_node, worker_node = backend.node(), backend.node()
    raw_address, attachment_address = await store_mail(smtp_node)
    kept = backend.everything_stored()
    needles = [SUBJECT.encode(), BODY.encode(), b"octopus-ledger-9931", b"alice@example.com"]
    # nor the names anyone can compute from a known mail: its sha256, its attachment's
    needles += [hashlib.sha256(MAIL).hexdigest().encode()]
    needles += [hashlib.sha256(ATTACHMENT).hexdigest().encode()]
    # nor the name of the raw mail's pointer made from its Message-ID, which anyone who has
    # the mail (its sender, each recipient) can compute to learn that it was received here
    needles += [hashlib.sha256(b"<audit-1@example.com>").hexdigest().encode()]
    assert [needle for needle in needles if needle in kept] == []
    assert await worker_node.raw("<audit-1@example.com>") == MAIL
    assert await worker_node.get(raw_address) == MAIL
    assert await worker_node.get(attachment_address) == ATTACHMENT


async def test_the_same_content_stored_twice_is_one_blob(backend: Backend) -> None:
    one, other = backend.node(), backend.node()
    first, second = await one.put(ATTACHMENT), await other.put(ATTACHMENT)
    assert first == second and first.size == len(ATTACHMENT)
    assert first.sha256 != hashlib.sha256(ATTACHMENT).hexdigest()
    assert backend.blob_count() == 1


Tampering = Callable[[bytes], bytes]
TAMPERINGS: dict[str, Tampering] = {
    "one bit of the ciphertext": lambda s: s[:40] + bytes([s[40] ^ 1]) + s[41:],
    "the key id in the header": lambda s: s.replace(b"k0", b"k9", 1),
    "cut short": lambda s: s[:20],
    "replaced by the plain attachment": lambda _: ATTACHMENT,
    "emptied": lambda _: b"",
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
async def test_a_blob_changed_where_it_is_stored_fails_loudly_on_read(
    backend: Backend, tampering: str
) -> None:
    store = backend.node()
    ref = await store.put(ATTACHMENT)
    backend.overwrite(ref.sha256, TAMPERINGS[tampering](backend.stored(ref.sha256)))
    with pytest.raises(BlobUnreadable) as raised:
        await backend.node().get(ref.sha256)
    message = str(raised.value)
    assert ref.sha256 in message and "\n" not in message


async def test_a_sealed_blob_copied_over_another_does_not_open(backend: Backend) -> None:
    store = backend.node()
    invoice, other = await store.put(ATTACHMENT), await store.put(b"some other attachment")
    backend.overwrite(invoice.sha256, backend.stored(other.sha256))
    with pytest.raises(BlobUnreadable, match="does not decrypt"):
        await store.get(invoice.sha256)


async def test_blobs_an_older_mailroom_stored_in_clear_still_read(backend: Backend) -> None:
    old = backend.node(sealing=None)  # the store as it wrote blobs before they were sealed
    raw_ref = await old.keep_raw("<old@example.com>", MAIL)
    # an old attachment that happens to start as sealed blobs do
    odd = MAGIC + b"\x01\x02k0 not sealed at all"
    odd_ref = await old.put(odd)
    assert raw_ref.sha256 == hashlib.sha256(MAIL).hexdigest()  # old references keep it
    new = backend.node()
    assert await new.raw("<old@example.com>") == MAIL
    assert await new.get(raw_ref.sha256) == MAIL
    assert await new.get(odd_ref.sha256) == odd
    assert MAIL in backend.everything_stored()  # left as it was, not rewritten


async def test_a_blob_sealed_with_a_key_this_installation_lacks_names_the_key(
    backend: Backend,
) -> None:
    ref = await backend.node().put(ATTACHMENT)
    elsewhere = BlobSealing(KeyRing((("k1", os.urandom(32)),)), SEALING.address_key)
    with pytest.raises(BlobUnreadable, match="key 'k0'"):
        await backend.node(sealing=elsewhere).get(ref.sha256)


async def test_blobs_sealed_before_a_key_rotation_still_read_after_it(backend: Backend) -> None:
    before = await backend.node().put(b"before the rotation")
    rotated = BlobSealing(KeyRing((*KEYS.keys, ("k1", os.urandom(32)))), SEALING.address_key)
    after_store = backend.node(sealing=rotated)
    after = await after_store.put(b"after the rotation")
    assert await after_store.get(before.sha256) == b"before the rotation"
    assert b"k1" in backend.stored(after.sha256)[: len(MAGIC) + 4]
