"""Micro-services are put on offer by the organisers of a community."""

from __future__ import annotations

from backend.core.permissions import capability
from backend.core.roles import ORGANISER_ROLES

capability("services.organise", lambda actor: actor.holds(*ORGANISER_ROLES))
