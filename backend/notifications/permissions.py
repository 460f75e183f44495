"""Undeliverable messages are the platform admin's to look into."""

from __future__ import annotations

from backend.core.permissions import capability

capability("notifications.dead_letters", lambda actor: actor.is_admin)
