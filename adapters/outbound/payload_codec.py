"""Temporal payloads encrypted before they leave the process (issue 22): the server, its
database and anyone reading history through its gRPC port or Web UI see ciphertext.

Each payload is serialized whole (its metadata says how its data is encoded) and sealed by
the installation's key ring; the sealed payload says `encoding: binary/encrypted` and which
key sealed it, as the Temporal samples' encryption codec does, so a codec server or an older
key can open it.

A payload without that encoding was not sealed by mailroom: written before encryption was on,
or by someone without the key (`temporal workflow signal`, the Web UI, a gRPC call: the
embedded server asks for no credentials). Taken as it is, it would make a thread act on
anything such a caller writes (a HUMAN_REPLY mailed to the customer, an approval). So a
converter made with `accept_plaintext=False` (mailroom's, unless
MAILROOM_ACCEPT_PLAINTEXT_PAYLOADS) opens it as REFUSED, which no payload converter reads:
the SDK drops such a signal or update, and fails a task whose own input is one (a thread
started before encryption: the setting lets it go on). The codec server, which only shows
payloads, passes them through."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from adapters.outbound.key_ring import KeyRing, KeyRingError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
REFUSED = b"binary/plaintext-refused"  # no converter has it: the value is never read

log = structlog.get_logger()


class EncryptionCodec(PayloadCodec):
    def __init__(self, key_ring: KeyRing, *, accept_plaintext: bool = True) -> None:
        self.key_ring = key_ring
        self.accept_plaintext = accept_plaintext
        self._said: set[str] = set()  # the key ids already said not to open (and "plain")
        # a worker says it in its log (orchestrator/bootstrap.py); a command's error says it
        self.log_key_errors = False

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.sealed(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.opened(p) for p in payloads]

    def sealed(self, payload: Payload) -> Payload:
        key_id, data = self.key_ring.encrypt(payload.SerializeToString())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode("ascii")}, data=data)

    def opened(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload if self.accept_plaintext else self._refused()
        key_id = payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")
        try:
            return Payload.FromString(self.key_ring.decrypt(key_id, payload.data))
        except KeyRingError as exc:
            self._say_once(key_id, exc)
            raise

    def _refused(self) -> Payload:
        if self.log_key_errors and "" not in self._said:
            self._said.add("")  # not a key id (KEY_ID in key_ring: 1-32 characters)
            log.error(
                "plaintext_payload_refused",
                reason="a payload not sealed by mailroom: written before encryption was on, "
                "or by a caller without the key",
                hint="set MAILROOM_ACCEPT_PLAINTEXT_PAYLOADS=true while threads started "
                "before encryption still run",
            )
        return Payload(metadata={"encoding": REFUSED})

    def _say_once(self, key_id: str, exc: KeyRingError) -> None:
        """A worker with the wrong keys fails each task of every thread it touches, retried
        by the server: the SDK logs each with a traceback that names no setting; this says
        once per key what is wrong and where to look."""
        if not self.log_key_errors or key_id in self._said:
            return
        self._said.add(key_id)
        log.error(
            "payload_not_decryptable",
            reason=str(exc),
            key_id=key_id,
            keys=[known for known, _ in self.key_ring.keys],
            hint="MAILROOM_ENCRYPTION_KEYS must hold every key that sealed what Temporal keeps",
        )
