"""Who a roster row is: the people the workbook names, matched to the database in a few batched
queries, so each human is one record however many rows and imports name them.

The rule (docs/rosters.md#who-is-who): a row with an ID number is the person with that number's
hash; failing that, the person with its phone who has no ID number on record yet; failing that,
someone new. A row with only a phone is the one person with that phone, and an error when
several people share it (family members registered separately)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from backend.extensions import db
from backend.people.models import Membership, Person

#: Values per IN (...) list: well inside SQLite's and PostgreSQL's limits on parameters.
CHUNK = 900


@dataclass(frozen=True)
class Ident:
    """What a row says about who it is (validated)."""

    name: str
    phone: str | None
    id_hash: str | None


@dataclass(eq=False)
class PersonPlan:
    """One human: a stored person (or None: to be created) and what the workbook wants of them."""

    person: Person | None
    phone: str | None
    id_hash: str | None
    #: The name the first row naming them gives; None while no row has named them.
    name: str | None = None
    #: "“党员”第 12 行": the first row naming them, for messages about later rows.
    where: str | None = None
    #: Party-member attributes from the 党员 sheet.
    attrs: dict = field(default_factory=dict)
    #: (org or draft org, role) to grant, each once.
    grants: list[tuple] = field(default_factory=list)

    def values(self) -> dict:
        """The person's attributes as the workbook wants them."""
        return {"name": self.name, "phone": self.phone, "id_number_hash": self.id_hash, **self.attrs}

    def changes(self) -> dict:
        """What differs from the stored person (everything, for a new one)."""
        if self.person is None:
            return self.values()
        return {k: v for k, v in self.values().items() if getattr(self.person, k) != v}


def _chunks(values: list) -> list[list]:
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


class People:
    """The people a workbook names: loaded by phone and ID hash up front, then matched row by row."""

    def __init__(self, phones: set[str], hashes: set[str]):
        found: dict[int, Person] = {}
        for column, values in ((Person.phone, sorted(phones)), (Person.id_number_hash, sorted(hashes))):
            for chunk in _chunks(values):
                found.update((p.id, p) for p in db.session.scalars(sa.select(Person).where(column.in_(chunk))))
        self.plans: list[PersonPlan] = []
        self.by_hash: dict[str, PersonPlan] = {}
        self.by_phone: dict[str, list[PersonPlan]] = defaultdict(list)
        for person in sorted(found.values(), key=lambda p: p.id):
            self._register(PersonPlan(person, person.phone, person.id_number_hash))
        #: (person id, org id, role) already held by the people found.
        self.held: set[tuple[int, int | None, str]] = set()
        for chunk in _chunks(sorted(found)):
            self.held.update(tuple(row) for row in db.session.execute(
                sa.select(Membership.person_id, Membership.org_id, Membership.role)
                .where(Membership.person_id.in_(chunk))))

    def _register(self, plan: PersonPlan) -> None:
        self.plans.append(plan)
        if plan.id_hash:
            self.by_hash[plan.id_hash] = plan
        if plan.phone:
            self.by_phone[plan.phone].append(plan)

    def match(self, ident: Ident) -> PersonPlan | str:
        """The person the row means, or why it cannot be told (a message for the phone column)."""
        if ident.id_hash:
            plan = self.by_hash.get(ident.id_hash)
            if plan is not None or not ident.phone:
                return plan or self._new()
            candidates = [p for p in self.by_phone.get(ident.phone, []) if p.id_hash is None]
        else:
            candidates = self.by_phone.get(ident.phone, [])
        if len(candidates) > 1:
            return f"该手机号登记了 {len(candidates)} 人，请填写身份证号以区分"
        return candidates[0] if candidates else self._new()

    def _new(self) -> PersonPlan:
        plan = PersonPlan(None, None, None)
        self._register(plan)
        return plan

    def claim(self, plan: PersonPlan, ident: Ident, where: str) -> tuple[str, str] | None:
        """Let the row name `plan`: (column key, message) when it contradicts an earlier row."""
        if plan.where is not None:
            if plan.name != ident.name:
                return "name", f"与{plan.where}是同一人，但姓名不同（{plan.name}）"
            if ident.phone and plan.phone != ident.phone:
                return "phone", f"与{plan.where}是同一人（身份证号相同），但手机号不同"
        else:
            plan.name, plan.where = ident.name, where
        if ident.phone and plan.phone != ident.phone:
            if plan.phone:
                self.by_phone[plan.phone].remove(plan)
            plan.phone = ident.phone
            self.by_phone[plan.phone].append(plan)
        if ident.id_hash and plan.id_hash is None:
            plan.id_hash = ident.id_hash
            self.by_hash[plan.id_hash] = plan
        return None

    def holds(self, plan: PersonPlan, org_id: int, role: str) -> bool:
        """Whether the stored person already holds `role` on org `org_id`."""
        return plan.person is not None and (plan.person.id, org_id, role) in self.held

    def named(self) -> list[PersonPlan]:
        """The plans some row named, in the order they were first met."""
        return [p for p in self.plans if p.where is not None]
