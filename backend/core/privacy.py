"""Personal data shown to others: phone numbers masked unless the viewer is entitled."""

from __future__ import annotations

from flask import g, has_request_context


def mask_phone(phone: str | None) -> str | None:
    """138****1234 — keep the first 3 and last 4 digits."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """张** — the surname and one star per other character."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def phone_for_viewer(phone: str | None, *entitled_person_ids: int | None) -> str | None:
    """The full number for the entitled people (the person, the responsible handler), masked for others."""
    actor = g.get("actor") if has_request_context() else None
    if actor is not None and actor.person_id in entitled_person_ids:
        return phone
    return mask_phone(phone)
