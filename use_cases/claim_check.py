"""Claim-check: bodies over a threshold and every attachment go to the blob store; the
workflow sees references, sizes and hashes. And a guard: no NEW_MESSAGE payload over 256 KB
ever reaches Temporal (it warns at 256 KB and fails the workflow task at 2 MB)."""

from __future__ import annotations

from dataclasses import dataclass

from use_cases.mail import Attachment, BlobRef, InboundEmail
from use_cases.models import NewMessage
from use_cases.ports import BlobStore

TEXT_BLOB_THRESHOLD = 32 * 1024
PREVIEW_CHARS = 8_000
MAX_PAYLOAD_BYTES = 256 * 1024
# Bounds on what one signal carries, whatever the mail: a 10 000-recipient To: header or a
# 1 000-part MIME tree must not make the payload grow without limit.
MAX_SIGNAL_ADDRESSES = 100
MAX_SIGNAL_ATTACHMENTS = 200
MAX_SIGNAL_SUBJECT_CHARS = 998  # RFC 5322 §2.1.1 line limit


class PayloadTooLarge(ValueError):
    """The message would exceed Temporal's payload budget even after the claim-check."""


@dataclass(frozen=True)
class Stored:
    raw: BlobRef | None = None
    text: BlobRef | None = None
    attachments: tuple[Attachment, ...] = ()
    # One entry per blob written for this mail (what `settle` / `release` take back).
    refs: tuple[BlobRef, ...] = ()
    message_id: str | None = None


def text_needs_blob(text: str) -> bool:
    return len(text) * 4 > TEXT_BLOB_THRESHOLD and len(text.encode()) > TEXT_BLOB_THRESHOLD


async def claim_check(email: InboundEmail, raw: bytes, blobs: BlobStore) -> Stored:
    """Store the raw mail, a long text and every attachment. If any write fails (a full
    disk) or the caller is cancelled, the blobs this mail wrote are released (removed
    unless an accepted mail holds them) before the error goes on."""
    written: list[BlobRef] = []

    async def kept(ref: BlobRef) -> BlobRef:
        written.append(ref)
        return ref

    try:
        raw_ref = await kept(await blobs.keep_raw(email.message_id, raw))
        text = email.text
        text_ref = await kept(await blobs.put(text.encode())) if text_needs_blob(text) else None
        attachments = list(email.attachments)
        for index, data in enumerate(email.contents[: len(attachments)]):
            blob = await kept(await blobs.put(data))
            attachments[index] = attachments[index].model_copy(update={"blob": blob})
    except BaseException:
        await blobs.release(written, message_id=email.message_id)
        raise
    return Stored(
        raw=raw_ref,
        text=text_ref,
        attachments=tuple(attachments),
        refs=tuple(written),
        message_id=email.message_id,
    )


async def settle(stored: Stored | None, blobs: BlobStore | None) -> None:
    """A hand-off may have reached a thread: its blobs are kept for good."""
    if stored is not None and blobs is not None and stored.refs:
        await blobs.settle(stored.refs)


async def release(stored: Stored | None, blobs: BlobStore | None) -> None:
    """No thread got the mail: remove its blobs (those no accepted mail holds)."""
    if stored is not None and blobs is not None and stored.refs:
        await blobs.release(stored.refs, message_id=stored.message_id)


def payload_size(message: NewMessage) -> int:
    return len(message.model_dump_json().encode())


def guard_payload(message: NewMessage) -> NewMessage:
    size = payload_size(message)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"message {message.message_id[:100]} needs a {size // 1024} KB signal payload, "
            f"over the {MAX_PAYLOAD_BYTES // 1024} KB limit"
        )
    return message
