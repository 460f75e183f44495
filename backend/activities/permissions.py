"""Volunteer activities are seen by their community and signed up for by its volunteers."""

from __future__ import annotations

from backend.activities.models import Activity
from backend.bookings.models import Booking
from backend.core.permissions import capability, rule, sees, visible_if
from backend.core.roles import ORGANISER_ROLES, Role

#: Roles that sign up for volunteer activities of their community.
VOLUNTEER_ROLES = frozenset({Role.secretary, Role.grid_leader, Role.grid_member, Role.party_member, Role.volunteer})

visible_if(Activity, lambda actor, activity: sees(actor, activity.org))
rule("activity.view", Activity, lambda actor, activity, **_: True)
rule("activity.sign_up", Activity, lambda actor, activity, **_: bool(actor.roles_around(activity.org)
                                                                     & VOLUNTEER_ROLES))
# A booking is its volunteer's, and the managers' of the org it is at.
visible_if(Booking, lambda actor, booking: booking.person_id == actor.person_id
           or actor.is_manager_over(booking.slot.org))
rule("booking.cancel", Booking, lambda actor, booking, **_: True)
capability("activities.take_part", lambda actor: actor.holds(*ORGANISER_ROLES, *VOLUNTEER_ROLES))
