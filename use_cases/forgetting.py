"""A person forgotten inside state that others' mail shares (erasure of a shared thread):
their mail dropped from every list of mail, the one that must stay (a flow's first or last
mail) kept as a blank, and their address and their mail's words taken out of every other
text. Pure functions over any pydantic model, so a flow added later is covered without
code of its own; what a flow derived from their mail in its own words (a purchase's items,
an agent's answer) is not recognised and stays, as the ledger keeps a purchase's items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import suppress
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from use_cases.mailboxes import normalize_address

ERASED = "(erased)"
# Their words are looked for inside other text (a quote, a conversation kept by a flow)
# only when this long: a short subject ("Hi") would otherwise blank everyone's text.
QUOTED_AT_LEAST = 24
# Keys that make a JSON object one mail (NewMessage) or its summary (MessageSummary).
MAIL_KEYS = frozenset({"message_id", "from_addr", "subject", "received_at"})
BLOB_REF_KEYS = {"sha256", "size"}  # a BlobRef: where a mail's bytes are stored
# What a blank keeps of a mail of theirs that must stay: where it sits in the thread.
BLANKED: dict[str, Any] = {
    "from_addr": ERASED,
    "from_name": "",
    "subject": ERASED,
    "text": "",
    "new_text": "",
    "text_blob": None,
    "raw_blob": None,
    "attachments": [],
    "defects": [],
    "reply_target": "",  # nobody to answer: a flow mails no one for it
    "flow_input": None,
    "decided_by": "",
}

# Where mail goes: theirs becomes "" (nowhere), never a placeholder a relay would be given.
NOWHERE_FIELDS = frozenset({"answer_to", "reply_target"})
# A subject is copied whole (the thread's, a search attribute): one equal to theirs goes,
# there only (a short subject of theirs may equal an enum's value or a stage elsewhere).
SUBJECT_FIELDS = frozenset({"subject"})
# The installation's settings (whom to tell, who approves), not anyone's mail: left as
# they are even when one of them is erased (the worker's settings apply at each run).
SETTINGS_FIELDS = frozenset({"flow_config", "config", "flow_entry", "entry"})
# What may stand next to an address inside it (RFC 5322 atext, dots, the domain's hyphens):
# a match with one of these beside it is part of another address.
ADDRESS_CHARS = r"A-Za-z0-9._%+\-"  # before it: a longer local part
DOMAIN_CHARS = r"A-Za-z0-9_\-"  # after it: a longer domain (a dot ends a sentence too)

Model = TypeVar("Model", bound=BaseModel)


class Forgetting:
    """The people to forget, and the words of their mail met so far (learnt from the state
    being cleaned, so a quote of their mail elsewhere in it is found)."""

    def __init__(self, addresses: Iterable[str] = ()) -> None:
        self.addresses: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._subjects: set[str] = set()  # their mail's subjects, whole
        self._lines: set[str] = set()  # their own words line by line: quoted so ("> …")
        self._quotes: re.Pattern[str] | None = None  # those lines, long enough to look for
        for address in addresses:
            self.add(address)

    def add(self, address: str) -> None:
        """One more person to forget; what was learnt of the others stays."""
        if not address.strip():
            return
        self.addresses = self.addresses | {normalize_address(address)}
        # the address whole: `ann@x.com` is not inside `joann@x.com` nor `ann@x.com.evil`;
        # an internationalised domain as mail writes it too (`ann@bücher.example`)
        written = {a for address in self.addresses for a in _written_forms(address)}
        alternatives = "|".join(re.escape(a) for a in sorted(written))
        self._pattern = re.compile(
            rf"(?<![{ADDRESS_CHARS}])(?:{alternatives})(?![{DOMAIN_CHARS}]|\.[{DOMAIN_CHARS}])",
            re.IGNORECASE,
        )

    def theirs(self, address: object) -> bool:
        return isinstance(address, str) and normalize_address(address) in self.addresses

    def names(self, text: object) -> bool:
        """`text` holds one of their addresses."""
        return (
            isinstance(text, str) and self._pattern is not None and bool(self._pattern.search(text))
        )

    def names_anywhere(self, value: Any) -> bool:
        """Some text in a JSON value (the installation's settings aside) holds one of their
        addresses: what `mailroom erase` reads back from a run it has left."""
        if isinstance(value, str):
            return self.names(value)
        if isinstance(value, list):
            return any(self.names_anywhere(v) for v in value)
        if isinstance(value, dict):
            return any(
                self.names(k) or self.names_anywhere(v)
                for k, v in value.items()
                if k not in SETTINGS_FIELDS
            )
        return False

    @property
    def subjects(self) -> frozenset[str]:
        """Their mail's subjects, as learnt so far."""
        return frozenset(self._subjects)

    def model(self, model: Model) -> Model:
        """`model` with the people forgotten; the same model when there is none to forget,
        or when what is left would not validate (a shape this code does not know: the run
        must go on, and `mailroom erase`, which reads what is left, says it still holds
        them)."""
        if not self.addresses:
            return model
        data = model.model_dump(mode="json")
        self._learn(data)
        self._learnt()
        try:
            return type(model).model_validate(self.value(data))
        except ValidationError:
            return model

    def value(self, value: Any, field: str = "", *, in_tuple: bool = False) -> Any:
        if isinstance(value, str):
            return self.text(value, subject=field in SUBJECT_FIELDS)
        if isinstance(value, list):
            # a list inside a list is a tuple (`(recipient, when)`): its shape must stay
            kept = value if in_tuple else [v for v in value if not self._theirs_whole(v)]
            return [self.value(v, field, in_tuple=isinstance(v, list)) for v in kept]
        if isinstance(value, dict):
            if self._their_mail(value):
                value = {**value, **{k: v for k, v in BLANKED.items() if k in value}}
            return {
                key: self._field(key, v)
                for key, v in value.items()
                if not self.theirs(key)  # a log keyed by address
            }
        return value

    def _field(self, key: str, value: Any) -> Any:
        if key in SETTINGS_FIELDS:
            return value
        if key in NOWHERE_FIELDS and self.theirs(value):
            return ""
        return self.value(value, key)

    def text(self, text: str, *, subject: bool = False) -> str:
        """`text` without their address and the lines of their mail it quotes; `subject`:
        a subject (or search attribute) that is one of theirs whole goes whole."""
        if not text or self._pattern is None:
            return text
        if self.theirs(text) or (subject and text.strip() in self._subjects):
            return ERASED
        text = self._pattern.sub(ERASED, text)
        return self._quotes.sub(ERASED, text) if self._quotes is not None else text

    def _learnt(self) -> None:
        """Their lines long enough to look for, in one pattern (one pass over each text),
        longest first and in one order on every replay (a set's order is not)."""
        long = sorted(
            {w for w in self._lines if len(w) >= QUOTED_AT_LEAST}, key=lambda w: (-len(w), w)
        )
        self._quotes = re.compile("|".join(re.escape(w) for w in long)) if long else None

    def _theirs_whole(self, item: object) -> bool:
        """An item a list loses whole: their mail, a text naming them (a flow's transcript
        entry `"<address>:\n<what they said>"`, cut to a length no quote search finds), or
        a tuple naming them (a log's `(recipient, when)`)."""
        if isinstance(item, list):
            return any(self.names(part) for part in item)
        return self.names(item) or self._their_mail(item)

    def _their_mail(self, value: object) -> bool:
        return (
            isinstance(value, dict)
            and value.keys() >= MAIL_KEYS
            and self.theirs(value["from_addr"])
        )

    def _learn(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self._learn(item)
        elif isinstance(value, dict):
            if self._their_mail(value):
                self._learn_mail(value)
            for item in value.values():
                self._learn(item)

    def _learn_mail(self, mail: dict[str, Any]) -> None:
        """Their subject, and the lines they wrote themselves (`new_text`): not the lines
        they quote (someone else's words), nor what they forwarded below their own text (a
        forward without a word of theirs has none)."""
        subject = mail.get("subject")
        if isinstance(subject, str) and subject.strip() not in ("", ERASED):
            self._subjects.add(subject.strip())
            self._lines.add(subject.strip())
        own = mail.get("new_text", "")
        if isinstance(own, str):
            lines = (line.strip() for line in own.splitlines())
            self._lines.update(line for line in lines if not line.startswith(">"))


def forgotten(model: Model, addresses: Iterable[str]) -> Model:
    return Forgetting(addresses).model(model)


def blobs_of_mail(value: Any, forgetting: Forgetting) -> tuple[set[str], set[str]]:
    """The blobs (raw mail, long text, attachments: BlobRef addresses) of the forgotten
    people's mail in `value`, and those of everyone else's mail (a blob both hold stays)."""
    theirs: set[str] = set()
    others: set[str] = set()

    def walk(item: Any, owner: set[str] | None) -> None:
        if isinstance(item, list):
            for part in item:
                walk(part, owner)
        elif isinstance(item, dict):
            if owner is None and item.keys() >= MAIL_KEYS:
                owner = theirs if forgetting.theirs(item["from_addr"]) else others
            if owner is not None and item.keys() == BLOB_REF_KEYS:
                owner.add(str(item["sha256"]))
            for part in item.values():
                walk(part, owner)

    walk(value, None)
    return theirs, others


def _written_forms(address: str) -> set[str]:
    """`ann@xn--bcher-kva.example` and `ann@bücher.example`: one address, written both ways."""
    local, at, domain = address.rpartition("@")
    forms = {address}
    if at and "xn--" in domain:
        with suppress(UnicodeError):  # not a domain IDNA reads: matched as it is written
            forms.add(f"{local}@{domain.encode('ascii').decode('idna')}")
    return forms
