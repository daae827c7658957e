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
payloads, passes them through.

A sealed payload names the workflow it was sealed for (BOUND_TO, from the SDK's serialization
context: the thread a signal goes to, the child a start goes to, the workflow an activity
runs for) and that name is associated data: anyone who can write to Temporal could otherwise
copy a sealed payload out of one thread's history into a signal to another (an approval
given in one thread deciding the purchase pending in another). Opened in the context of
another workflow, it is refused as a plain one is. A scheduled run's id is its schedule's
plus `-<time>`: the schedule seals its arguments for the former. Without a context (the
codec server, a client reading a listing) the payload's own name is checked, not compared."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from adapters.outbound.key_ring import KeyRing, KeyRingError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
REFUSED = b"binary/plaintext-refused"  # no converter has it: the value is never read
BOUND_TO = "encryption-bound-to"  # the workflow id a payload was sealed for
ASSOCIATED_PREFIX = b"mailroom payload for workflow "
# what the server appends to a schedule's workflow id for each run it starts
SCHEDULED_RUN = re.compile(r"-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

log = structlog.get_logger()


@dataclass
class _Said:
    """Shared by a codec and its copies for each context: what it has logged, and whether."""

    log: bool = False  # a worker says it in its log (bootstrap.py); a command's error says it
    said: set[str] = field(default_factory=set)  # key ids said not to open, "" "plain", …


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(
        self,
        key_ring: KeyRing,
        *,
        accept_plaintext: bool = True,
        workflow_id: str | None = None,
        _said: _Said | None = None,
    ) -> None:
        self.key_ring = key_ring
        self.accept_plaintext = accept_plaintext
        self.workflow_id = workflow_id  # whose payloads these are (None: not known here)
        self._shared = _said or _Said()

    @property
    def log_key_errors(self) -> bool:
        return self._shared.log

    @log_key_errors.setter
    def log_key_errors(self, value: bool) -> None:
        self._shared.log = value

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        return EncryptionCodec(
            self.key_ring,
            accept_plaintext=self.accept_plaintext,
            workflow_id=workflow_id,
            _said=self._shared,
        )

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.sealed(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.opened(p) for p in payloads]

    def sealed(self, payload: Payload) -> Payload:
        bound = self.workflow_id.encode("utf-8") if self.workflow_id else None
        key_id, data = self.key_ring.encrypt(payload.SerializeToString(), _associated(bound))
        metadata = {"encoding": ENCODING, KEY_ID: key_id.encode("ascii")}
        return Payload(metadata=metadata | ({BOUND_TO: bound} if bound else {}), data=data)

    def opened(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload if self.accept_plaintext else self._refused()
        key_id = payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")
        bound = payload.metadata.get(BOUND_TO)
        try:
            opened = Payload.FromString(
                self.key_ring.decrypt(key_id, payload.data, _associated(bound))
            )
        except KeyRingError as exc:
            self._say_once(key_id, exc)
            raise
        return opened if self._ours(bound) else self._refused("another workflow's")

    def _ours(self, bound: bytes | None) -> bool:
        """Sealed for the workflow this codec opens payloads of (or either is not known)."""
        if bound is None or not self.workflow_id:
            return True
        sealed_for, here = bound.decode("utf-8", "replace"), self.workflow_id
        suffix = here.removeprefix(sealed_for)
        return here == sealed_for or (
            suffix != here and SCHEDULED_RUN.fullmatch(suffix) is not None
        )

    def _refused(self, whose: str = "") -> Payload:
        if whose:
            self._say(
                whose,
                "payload_of_another_workflow_refused",
                reason="a payload sealed for another workflow, copied into this one's "
                "history by someone who can write to Temporal",
                workflow_id=self.workflow_id,
            )
        else:
            self._say(
                "",
                "plaintext_payload_refused",
                reason="a payload not sealed by mailroom: written before encryption was on, "
                "or by a caller without the key",
                hint="set MAILROOM_ACCEPT_PLAINTEXT_PAYLOADS=true while threads started "
                "before encryption still run",
            )
        return Payload(metadata={"encoding": REFUSED})

    def _say(self, what: str, event: str, **fields: object) -> None:
        """Once per process (`what`: not a key id, KEY_ID in key_ring is 1-32 characters)."""
        if self.log_key_errors and what not in self._shared.said:
            self._shared.said.add(what)
            log.error(event, **fields)

    def _say_once(self, key_id: str, exc: KeyRingError) -> None:
        """A worker with the wrong keys fails each task of every thread it touches, retried
        by the server: the SDK logs each with a traceback that names no setting; this says
        once per key what is wrong and where to look."""
        if not self.log_key_errors or key_id in self._shared.said:
            return
        self._shared.said.add(key_id)
        log.error(
            "payload_not_decryptable",
            reason=str(exc),
            key_id=key_id,
            keys=[known for known, _ in self.key_ring.keys],
            hint="MAILROOM_ENCRYPTION_KEYS must hold every key that sealed what Temporal keeps",
        )


def _associated(bound: bytes | None) -> bytes:
    """Nothing for a payload sealed for no workflow in particular (as before binding)."""
    return b"" if bound is None else ASSOCIATED_PREFIX + bound
