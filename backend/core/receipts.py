"""Receipts: the secret link that lets a resident without an account follow what they submitted.

A receipt is derived from the submit form's random token and what the form said (HMAC with the
app secret), so a repeated submit (a double tap) finds the same record and the same receipt,
and the same token with anything else changed gives another receipt — which is how a replay
with another body is told apart. Only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def receipt_for(kind: str, submit_token: str, fingerprint: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{kind}-receipt:{submit_token}:{fingerprint}".encode(), hashlib.sha256).hexdigest()[:40]


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256((receipt or "").encode()).hexdigest()
