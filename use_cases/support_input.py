"""What `mailroom start support` gives the support flow: a customer's question taken by an
operator (a phone call, a chat) instead of read from a mail."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from use_cases.input_fields import EmailAddress, FreeText, OneLine


class SupportInput(BaseModel):
    """The customer who asks, and the question."""

    model_config = ConfigDict(extra="forbid")

    requester: EmailAddress
    subject: OneLine = Field(min_length=1)
    text: FreeText = Field(min_length=1)

    @property
    def thread_subject(self) -> str:
        return self.subject
