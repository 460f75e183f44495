"""Emit a domain event in the current transaction; in-process subscribers run at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from backend.events.models import DomainEvent
from backend.extensions import db

_SUBSCRIBERS: dict[str, list[Callable[[DomainEvent], None]]] = defaultdict(list)


def subscribe(kind: str, handler: Callable[[DomainEvent], None]) -> None:
    """Run `handler(event)` inside the emitting transaction for every event of `kind`."""
    _SUBSCRIBERS[kind].append(handler)


def emit(kind: str, org_id: int | None, **payload) -> DomainEvent:
    event = DomainEvent(kind=kind, org_id=org_id, payload=payload)
    db.session.add(event)
    db.session.flush()
    for handler in _SUBSCRIBERS[kind]:
        handler(event)
    return event
