from __future__ import annotations

import pytest

from use_cases.automatic import automatic_reason
from use_cases.models import InboundEmail


def mail(**fields: object) -> InboundEmail:
    return InboundEmail.model_validate({"message_id": "<m@x>", **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"auto_submitted": "auto-replied"},
        {"auto_submitted": "auto-generated; owner-email=x@y"},
        {"precedence": "bulk"},
        {"precedence": "List"},
        {"precedence": "junk"},
        {"return_path": "<>"},
        {"return_path": ""},
    ],
)
def test_automatic_mail_is_recognised(fields: dict[str, str]) -> None:
    assert automatic_reason(mail(**fields)) is not None


@pytest.mark.parametrize(
    "fields",
    [{}, {"auto_submitted": "no"}, {"precedence": "first-class"}, {"return_path": "<a@b>"}],
)
def test_human_mail_is_not_automatic(fields: dict[str, str]) -> None:
    assert automatic_reason(mail(**fields)) is None
