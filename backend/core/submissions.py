"""Forms a resident sends without an account (a wish, a service booking): consent first, and
the form's random token makes a double tap — or two taps racing — one record.

The token names the record (a unique column `submit_token`) and gives the receipt
(backend.core.receipts), so the same token always answers with the first record and its
receipt, whichever request got there first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend.core.errors import Invalid
from backend.core.receipts import receipt_for, receipt_hash
from backend.extensions import db

T = TypeVar("T")

CONSENT_MESSAGE = "请阅读并同意隐私说明"


@dataclass(frozen=True)
class Ticket:
    """One submission's token and the receipt that follows from it."""

    token: str
    receipt: str

    @property
    def receipt_hash(self) -> str:
        """What is stored of the receipt."""
        return receipt_hash(self.receipt)


def require_consent(consent: bool) -> None:
    """422 `consent_required` until the person has agreed to the privacy notice."""
    if not consent:
        raise Invalid(CONSENT_MESSAGE, code="consent_required", fields={"consent": [CONSENT_MESSAGE]})


def ticket_for(kind: str, submit_token: str | None) -> Ticket:
    """The form's token (a fresh one when the client sent none) and its `kind` receipt."""
    token = submit_token or secrets.token_urlsafe(24)
    return Ticket(token, receipt_for(kind, token))


def submitted_with(model: type[T], token: str) -> T | None:
    """The `model` record an earlier submission with this token made, if any."""
    return db.session.scalar(sa.select(model).where(model.submit_token == token))  # type: ignore[attr-defined]


def add_once(model: type[T], token: str, build: Callable[[], T]) -> tuple[T, bool]:
    """Run `build` (which adds the record carrying `token`) in a savepoint. When another
    request with the same token committed first, everything `build` did is undone and that
    request's record is returned instead: (record, created)."""
    try:
        with db.session.begin_nested():
            record = build()
            db.session.flush()
    except IntegrityError:
        winner = submitted_with(model, token)
        if winner is None:  # some other constraint: not ours to explain
            raise
        return winner, False
    return record, True


def submit_once(model: type[T], kind: str, *, consent: bool, submit_token: str | None,
                build: Callable[[Ticket], Any]) -> tuple[T, Ticket, bool]:
    """Consent, then one record per token: the first record when the token was seen before
    (or wins a race meanwhile), else the one `build(ticket)` adds. Returns (record, ticket, created)."""
    require_consent(consent)
    ticket = ticket_for(kind, submit_token)
    existing = submitted_with(model, ticket.token)
    if existing is not None:
        return existing, ticket, False
    record, created = add_once(model, ticket.token, lambda: build(ticket))
    return record, ticket, created
