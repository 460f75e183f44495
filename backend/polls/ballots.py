"""The ballot key: who has answered a poll is kept as keyed hashes whose key never enters the
database.

A copy of the database (a backup, a replica, a dump, the file of a SQLite install) cannot tell
whose ballot is whose: recomputing HMAC("person:12") needs the key, and the key lives in the
settings (`POLL_BALLOT_KEY`, else derived from `SECRET_KEY` with a purpose of its own, so it
signs nothing else). Each poll hashes with a key derived for it alone, so one person's ballots
in two polls do not match each other.

Rotation: new ballots are hashed with the current key only; the keys of
`POLL_BALLOT_PREVIOUS_KEYS` (and the own secret of a poll that was open when migration 0016a
took the secrets out of the database) are looked up before an answer is taken, so whoever
answered before the change is still refused.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from backend.polls.models import Poll

#: Sets the ballot key apart from everything else derived from the same setting.
PURPOSE = b"sanwei poll-ballot key"


def poll_key(source: str, poll_id: int) -> bytes:
    """The key of one poll's hashes, from a value of POLL_BALLOT_KEY (or SECRET_KEY)."""
    master = hmac.new(source.encode(), PURPOSE, hashlib.sha256).digest()
    return hmac.new(master, f"poll:{poll_id}".encode(), hashlib.sha256).digest()


def keyed(key: bytes, value: str) -> str:
    """HMAC-SHA256 (hex) of a respondent key ("person:12") or a network under a poll's key."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def current_key(poll: Poll) -> bytes:
    """The key new ballots and network hashes of `poll` are made with."""
    cfg = current_app.config
    return poll_key(cfg["POLL_BALLOT_KEY"] or cfg["SECRET_KEY"], poll.id)


def earlier_keys(poll: Poll) -> list[bytes]:
    """Keys the ballots of `poll` may have been made with before: previous settings, and the
    poll's own secret if it was open when the secrets left the database."""
    keys = [poll_key(source, poll.id) for source in current_app.config["POLL_BALLOT_PREVIOUS_KEYS"]]
    return keys + ([poll.legacy_secret.encode()] if poll.legacy_secret else [])
