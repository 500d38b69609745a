"""E-mail (.eml), with the standard library: the subject is the title, the plain-text body (or the HTML body's
text) is the document; sender, recipients and date are metadata. Attachments are named, not read.

Outlook's .msg is not read: its one maintained Python reader (extract-msg) is GPL-licensed.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import trafilatura

from indexer.ingest.readers.base import Block, Extracted, SkipKind, Unreadable, iso


def read_eml(path: Path) -> Extracted:
    """The message's body text, subject, sender, recipients, date and attachment names."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise Unreadable(SkipKind.corrupt, "not an e-mail message (no headers)")
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError) as exc:
            raise Unreadable(SkipKind.corrupt, f"the body cannot be decoded ({exc})") from exc
        text = content if body.get_content_subtype() == "plain" else (trafilatura.extract(content) or "")
    try:
        sent = iso(parsedate_to_datetime(str(message["date"]))) if message["date"] else None
    except (TypeError, ValueError):
        sent = None
    attachments = [part.get_filename() for part in message.iter_attachments() if part.get_filename()]
    metadata = {
        "author": str(message["from"]) if message["from"] else None,
        "to": str(message["to"]) if message["to"] else None,
        "created": sent,
        "attachments": attachments or None,
    }
    subject = str(message["subject"]) if message["subject"] else None
    return Extracted([Block(p) for p in text.split("\n\n")], title=subject, metadata=metadata)
