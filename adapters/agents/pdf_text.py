"""The text layer of a PDF invoice, with pypdf. A scanned PDF has none: its text is ""
and the invoice is read from the mail alone (no OCR)."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PyPdfError

# An invoice is a page or two; a PDF of hundreds of pages is no invoice, and reading it
# all would hold the worker.
MAX_PAGES = 20


def pdf_text(data: bytes) -> str:
    """The text of the first pages, one line per text line; "" for a PDF without a text
    layer and for bytes that are no readable PDF (a broken attachment is not an error)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = reader.pages[:MAX_PAGES]
        return "\n".join(page.extract_text() or "" for page in pages)
    except PyPdfError:
        return ""
    except Exception:  # malformed files raise whatever pypdf's parser meets on the way
        return ""


# pypdf warns through logging about every quirk of a malformed file: noise in our logs.
logging.getLogger("pypdf").setLevel(logging.ERROR)
