"""Forms a resident sends without an account (a wish, a service booking): consent first, and
the form's random token makes a double tap — or two taps racing — one record.

The token is a secret: with it and what the form said comes the receipt (backend.core.receipts),
which opens the record and its contact details. So it is long (at least 128 bits), and only a
keyed hash of it is stored (the unique column `submit_token`): whoever reads the database or a
backup learns no token and so no receipt. The same token with the same form answers with the
first record and its receipt, whichever request got there first; the same token with anything
else — another body, another QR code or grid, another time slot — is refused 409, never
answered with the earlier record.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from marshmallow import validate
from sqlalchemy.exc import IntegrityError

from backend.core import fields
from backend.core.errors import Conflict, Invalid
from backend.core.receipts import receipt_for, receipt_hash
from backend.extensions import db

T = TypeVar("T")

CONSENT_MESSAGE = "请阅读并同意隐私说明"
#: 22 URL-safe Base64 characters carry 132 bits (32 hex digits, 128): too many to guess.
TOKEN_MIN_LENGTH = 22
TOKEN_MESSAGE = "表单已过期，请刷新页面后重新提交"


def submit_token_field() -> fields.String:
    """The schema field of a form's token: 22–64 URL-safe characters (secrets.token_urlsafe(24)
    gives 32)."""
    return fields.String(
        validate=[validate.Length(min=TOKEN_MIN_LENGTH, max=64, error=TOKEN_MESSAGE),
                  validate.Regexp(r"^[A-Za-z0-9_-]+$", error=TOKEN_MESSAGE)],
        metadata={"description": "idempotency key: the same token and the same form twice make one record; "
                                 "at least 22 URL-safe characters (128 bits), e.g. 32 hex digits"})


class TokenReused(Conflict):
    """The token came before with another form. A page answering this gives its form a fresh
    token, so what was typed can be sent as a record of its own."""

    code, message = "submit_token_reused", "这张表单已提交过不同的内容；如需另行提交，请核对后再提交一次"


@dataclass(frozen=True)
class Ticket:
    """One submission's stored token hash and the receipt that follows from token and form."""

    token_hash: str
    receipt: str

    @property
    def receipt_hash(self) -> str:
        """What is stored of the receipt."""
        return receipt_hash(self.receipt)


def require_consent(consent: bool) -> None:
    """422 `consent_required` until the person has agreed to the privacy notice."""
    if not consent:
        raise Invalid(CONSENT_MESSAGE, code="consent_required", fields={"consent": [CONSENT_MESSAGE]})


def token_hash(kind: str, token: str) -> str:
    """What is stored of a form's submit token (a keyed hash, so a copy of the database cannot
    replay it). Domain-separated from the receipts and sessions that also use SECRET_KEY."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"sanwei submit-token key", hashlib.sha256).digest()
    return hmac.new(key, f"{kind}:{token}".encode(), hashlib.sha256).hexdigest()


def ticket_for(kind: str, submit_token: str | None, form: dict) -> Ticket:
    """The token's stored hash (a fresh token when the client sent none) and the `kind` receipt
    of this token and this form (where it was sent and what it said)."""
    token = submit_token or secrets.token_urlsafe(24)
    fingerprint = hashlib.sha256(json.dumps(form, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return Ticket(token_hash(kind, token), receipt_for(kind, token, fingerprint))


def submitted_with(model: type[T], token_hash: str) -> T | None:
    """The `model` record an earlier submission with this token made, if any."""
    return db.session.scalar(_by_token(model), {"token_hash": token_hash})


@functools.cache
def _by_token(model: type) -> sa.Select:
    """The statement of `submitted_with`, built once per model: every submission runs it."""
    return sa.select(model).where(model.submit_token == sa.bindparam("token_hash"))


def _same_form(record: T, ticket: Ticket) -> T:
    """The earlier record, for a replay of the same form only."""
    if not hmac.compare_digest(record.receipt_hash, ticket.receipt_hash):  # type: ignore[attr-defined]
        raise TokenReused()
    return record


def add_once(model: type[T], ticket: Ticket, build: Callable[[], T]) -> tuple[T, bool]:
    """Run `build` (which adds the record carrying the ticket's token hash) in a savepoint. When
    another request with the same token committed first, everything `build` did is undone and
    that request's record is returned instead (if it was the same form): (record, created)."""
    try:
        with db.session.begin_nested():
            record = build()
            db.session.flush()
    except IntegrityError:
        winner = submitted_with(model, ticket.token_hash)
        if winner is None:  # some other constraint: not ours to explain
            raise
        return _same_form(winner, ticket), False
    return record, True


def submit_once(model: type[T], kind: str, *, consent: bool, submit_token: str | None, form: dict,
                build: Callable[[Ticket], Any]) -> tuple[T, Ticket, bool]:
    """Consent, then one record per token: the first record when the token was seen before with
    the same `form` (or wins a race meanwhile), 409 `submit_token_reused` with another, else the
    one `build(ticket)` adds. `form` is everything the submission said and where it was sent.
    Returns (record, ticket, created)."""
    require_consent(consent)
    ticket = ticket_for(kind, submit_token, form)
    existing = submitted_with(model, ticket.token_hash)
    if existing is not None:
        return _same_form(existing, ticket), ticket, False
    record, created = add_once(model, ticket, lambda: build(ticket))
    return record, ticket, created
