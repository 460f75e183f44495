"""The roles a person holds on an org, and how they rank. Every domain's permission rules are
written in these terms (backend.core.permissions); what each role may do lives with each
domain's rules."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    admin = "admin"
    street_officer = "street_officer"
    secretary = "secretary"
    grid_leader = "grid_leader"
    grid_member = "grid_member"
    party_member = "party_member"
    volunteer = "volunteer"
    resident = "resident"


ROLE_LABELS = {
    Role.admin: "系统管理员",
    Role.street_officer: "街道工作人员",
    Role.secretary: "社区书记",
    Role.grid_leader: "网格长",
    Role.grid_member: "网格员",
    Role.party_member: "党员",
    Role.volunteer: "志愿者",
    Role.resident: "居民",
}

#: Roles that work in the organisation (see members, manage its things).
STAFF_ROLES = frozenset({Role.street_officer, Role.secretary, Role.grid_leader, Role.grid_member})
#: Staff roles that may change an org's members and QR codes.
MANAGER_ROLES = frozenset({Role.street_officer, Role.secretary, Role.grid_leader})
#: Roles that organise an org's activities, services, polls and meetings.
ORGANISER_ROLES = frozenset({Role.street_officer, Role.secretary})
#: Lower number = more authority. A manager grants only roles below their own.
ROLE_RANK = {
    Role.admin: 0, Role.street_officer: 1, Role.secretary: 2, Role.grid_leader: 3,
    Role.grid_member: 4, Role.party_member: 5, Role.volunteer: 5, Role.resident: 5,
}
