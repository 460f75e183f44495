"""A roster import worked out before anything is written.

Every row is checked against the organisations under the importing org and against the people
the workbook names, both loaded up front in a few queries; what each row would create or change
is collected in the plan. A dry run reports the plan; the real run applies it only when no row
has an error (backend.rosters.service)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from marshmallow import ValidationError

from backend.core.roles import Role
from backend.extensions import db
from backend.orgs.models import ORG_KIND_LABELS, Org, OrgKind
from backend.orgs.service import create_orgs
from backend.people.identity import id_number_hash, load_id_number
from backend.people.models import Membership, Person
from backend.people.schemas import load_phone
from backend.rosters.people import Ident, People, PersonPlan
from backend.rosters.workbook import SHEETS, Parsed, Row, RowError

#: The sheets whose rows are people, in the order they are planned.
PEOPLE_SHEETS = ("grid_staff", "party", "volunteers")
MAX_HOUSEHOLDS = 1_000_000
_SHEET_ORDER = {sheet.title: i for i, sheet in enumerate(SHEETS)}
_POST_ROLES = {"网格长": Role.grid_leader, "网格员": Role.grid_member}


@dataclass
class SheetCount:
    """What the rows of one sheet do: rows read, and of the rows without errors, how many create
    something, change something, or find everything already as they say."""

    sheet: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(eq=False)
class DraftOrg:
    """A grid or resident unit the import will create (under an existing org)."""

    name: str
    kind: str
    parent: Org
    buildings: str | None = None
    #: The org, once created.
    org: Org | None = None


@dataclass(frozen=True)
class StaffRow:
    """A grid leader or member the workbook names: who gets a binding code."""

    person: PersonPlan
    grid: Org | DraftOrg
    role: Role


def _first_message(messages) -> str:
    while isinstance(messages, dict | list):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return str(messages)


def _phone(value) -> str | None:
    # A number typed into a cell Excel formats as General arrives as a number.
    return load_phone(str(value) if isinstance(value, int) else value)


def _households(value) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_HOUSEHOLDS:
        raise ValidationError(f"请填写 0 到 {MAX_HOUSEHOLDS} 之间的整数")
    return value


class Cells:
    """One row's cells, read with what is wrong noted against the cell."""

    def __init__(self, row: Row, errors: list[RowError]):
        self.row = row
        self.ok = True
        self._errors = errors
        self._failed: set[str] = set()

    @property
    def where(self) -> str:
        return f"“{self.row.sheet.title}”第 {self.row.number} 行"

    def _column(self, key: str):
        return next(c for c in self.row.sheet.columns if c.key == key)

    def fail(self, key: str, message: str) -> None:
        letter = self.row.letters.get(key)
        self._errors.append(RowError(self.row.sheet.title, self.row.number, self._column(key).header,
                                     f"{letter}{self.row.number}" if letter else "", message))
        self.ok = False
        self._failed.add(key)

    def failed(self, *keys: str) -> bool:
        return bool(self._failed.intersection(keys))

    def given(self, key: str) -> bool:
        return self.row.values.get(key) is not None

    def _missing(self, key: str) -> bool:
        """A blank cell: an error in a required column."""
        if self.given(key):
            return False
        if self._column(key).required:
            self.fail(key, "此项必填")
        return True

    def text(self, key: str, max_length: int) -> str | None:
        if self._missing(key):
            return None
        value = self.row.values[key]
        value = value if isinstance(value, str) else str(value)
        if len(value) > max_length:
            return self.fail(key, f"不能超过 {max_length} 个字")
        return value

    def checked(self, key: str, loader):
        """The cell through `loader` (blank is None unless required); its ValidationError noted."""
        if self._missing(key):
            return None
        try:
            return loader(self.row.values[key])
        except ValidationError as exc:
            return self.fail(key, _first_message(exc.messages))

    def choice(self, key: str) -> str | None:
        value = self.text(key, 20)
        if value is None:
            return None
        choices = self._column(key).choices
        value = value if value in choices else value.removesuffix("党员")
        if value not in choices:
            return self.fail(key, f"请填写{'、'.join(choices)}之一")
        return value


class Plan:
    """What importing `parsed` into `scope` would do, and every row error found on the way."""

    def __init__(self, scope: Org, parsed: Parsed):
        self.scope = scope
        self.errors: list[RowError] = list(parsed.errors)
        self.sheets = {s.key: SheetCount(s.title) for s in SHEETS}
        #: (sheet key, what the row is about) → the first row about it: repeats are errors.
        self._seen: dict[tuple, int] = {}
        self.drafts: list[DraftOrg] = []
        self.org_changes: dict[tuple[Org, str], object] = {}
        self.staff: list[StaffRow] = []
        self._load_orgs()
        # A sheet with a column missing is reported on row 1 only, not once per row.
        broken = {e.sheet for e in parsed.errors}
        rows = {key: [] if self.sheets[key].sheet in broken else found for key, found in parsed.rows.items()}
        for row in rows.get("communities", []):
            self._community_row(self._cells(row))
        for row in rows.get("grids", []):
            self._grid_row(self._cells(row))
        for row in rows.get("units", []):
            self._unit_row(self._cells(row))
        self._plan_people(rows)
        self.errors.sort(key=lambda e: (_SHEET_ORDER[e.sheet], e.row, len(e.cell), e.cell))

    def _cells(self, row: Row) -> Cells:
        self.sheets[row.sheet.key].rows += 1
        return Cells(row, self.errors)

    def _load_orgs(self) -> None:
        orgs = db.session.scalars(sa.select(Org).where(Org.path.startswith(self.scope.path))).all()
        self.communities = {o.name: o for o in orgs if o.kind == OrgKind.community.value}
        #: (parent id, name) → org or draft: names are unique among siblings, whatever their kind.
        self.children: dict[tuple[int, str], Org | DraftOrg] = {(o.parent_id, o.name): o for o in orgs}
        #: grid id → {person id: name} of its grid leaders now.
        self.leaders: dict[int, dict[int, str]] = {}
        held = db.session.execute(
            sa.select(Membership.org_id, Person.id, Person.name).join(Person, Person.id == Membership.person_id)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.role == Role.grid_leader.value, Org.path.startswith(self.scope.path)))
        for grid_id, person_id, name in held:
            self.leaders.setdefault(grid_id, {})[person_id] = name

    # --- shared checks ---------------------------------------------------------------------------

    def _count(self, cells: Cells, outcome: str) -> None:
        counts = self.sheets[cells.row.sheet.key]
        setattr(counts, outcome, getattr(counts, outcome) + 1)

    def _repeat(self, cells: Cells, about: tuple, key: str, message: str = "与第 {} 行重复") -> bool:
        """Whether an earlier row of the sheet is about the same thing (then this row is an error)."""
        first = self._seen.setdefault((cells.row.sheet.key, *about), cells.row.number)
        if first == cells.row.number:
            return False
        cells.fail(key, message.format(first))
        return True

    def _community(self, cells: Cells, key: str = "community") -> Org | None:
        """The community a row names, which must lie inside the importing org; blank means the
        importing community itself."""
        if not cells.given(key) and self.scope.kind == OrgKind.community.value:
            return self.scope
        name = cells.text(key, 100)
        if name is None:
            return None if cells.failed(key) else cells.fail(key, "请填写社区")
        found = self.communities.get(name)
        if found is None:
            cells.fail(key, f"找不到社区“{name}”（须在{self.scope.name}之内）")
        return found

    def _grid(self, cells: Cells, community: Org | None) -> Org | DraftOrg | None:
        name = cells.text("grid", 100)
        if name is None or community is None:
            return None
        found = self.children.get((community.id, name))
        if found is None:
            return cells.fail("grid", f"{community.name}没有“{name}”（新网格请写在“网格”工作表）")
        if found.kind != OrgKind.grid.value:
            return cells.fail("grid", f"{community.name}的“{name}”不是网格")
        return found

    def _draft(self, name: str, kind: OrgKind, parent: Org, buildings: str | None = None) -> None:
        draft = DraftOrg(name, kind.value, parent, buildings)
        self.drafts.append(draft)
        self.children[(parent.id, name)] = draft

    def _set(self, org: Org, attribute: str, value) -> bool:
        if getattr(org, attribute) == value:
            return False
        self.org_changes[(org, attribute)] = value
        return True

    # --- organisation sheets -------------------------------------------------------------------

    def _community_row(self, cells: Cells) -> None:
        community = self._community(cells)
        households = cells.checked("households", _households)
        if not cells.ok or self._repeat(cells, (community.id,), "community"):
            return
        self._count(cells, "updated" if self._set(community, "households", households) else "unchanged")

    def _grid_row(self, cells: Cells) -> None:
        community = self._community(cells)
        name = cells.text("grid", 100)
        buildings = cells.text("buildings", 500)
        if not cells.ok or self._repeat(cells, (community.id, name), "grid"):
            return
        found = self.children.get((community.id, name))
        if found is None:
            self._draft(name, OrgKind.grid, community, buildings)
            self._count(cells, "created")
        elif found.kind != OrgKind.grid.value:
            cells.fail("grid", f"{community.name}下已有同名的{ORG_KIND_LABELS[OrgKind(found.kind)]}")
        else:
            self._count(cells, "updated" if self._set(found, "buildings", buildings) else "unchanged")

    def _unit_row(self, cells: Cells) -> None:
        name = cells.text("unit", 100)
        parent = self._community(cells) if cells.given("community") else self.scope
        if not cells.ok or self._repeat(cells, (parent.id, name), "unit"):
            return
        found = self.children.get((parent.id, name))
        if found is None:
            self._draft(name, OrgKind.unit, parent)
            self._count(cells, "created")
        elif found.kind != OrgKind.unit.value:
            cells.fail("unit", f"{parent.name}下已有同名的{ORG_KIND_LABELS[OrgKind(found.kind)]}")
        else:
            self._count(cells, "unchanged")

    # --- people sheets ---------------------------------------------------------------------------

    def _plan_people(self, rows: dict[str, list[Row]]) -> None:
        # Who the rows are is read first, so everyone they name is loaded in one go.
        named = [(key, cells, self._ident(cells)) for key in PEOPLE_SHEETS
                 for cells in map(self._cells, rows.get(key, []))]
        self.people = People({i.phone for _, _, i in named if i and i.phone},
                             {i.id_hash for _, _, i in named if i and i.id_hash})
        handlers = {"grid_staff": self._staff_row, "party": self._party_row, "volunteers": self._volunteer_row}
        for key, cells, ident in named:
            handlers[key](cells, ident)

    def _ident(self, cells: Cells) -> Ident | None:
        name = cells.text("name", 50)
        phone = cells.checked("phone", _phone)
        number = cells.checked("id_number", load_id_number)
        if phone is None and number is None and not cells.failed("phone", "id_number"):
            cells.fail("phone", "手机号和身份证号至少填写一项")
        if not cells.ok:
            return None
        return Ident(name, phone, id_number_hash(number) if number else None)

    def _person(self, cells: Cells, ident: Ident) -> PersonPlan | None:
        found = self.people.match(ident)
        if isinstance(found, str):
            return cells.fail("phone", found)
        clash = self.people.claim(found, ident, cells.where)
        return cells.fail(*clash) if clash else found

    def _grant(self, plan: PersonPlan, org: Org | DraftOrg, role: Role) -> bool:
        """Plan `role` on `org` for the person unless they hold it already; whether it is new."""
        if (org, role) in plan.grants or (isinstance(org, Org) and self.people.holds(plan, org.id, role.value)):
            return False
        plan.grants.append((org, role))
        return True

    def _outcome(self, plan: PersonPlan, ident: Ident, attrs: dict, granted: bool) -> str:
        person = plan.person
        if person is None:
            return "created"
        changed = (granted or person.name != ident.name or (ident.phone and person.phone != ident.phone)
                   or (ident.id_hash and person.id_number_hash != ident.id_hash)
                   or any(getattr(person, k) != v for k, v in attrs.items()))
        return "updated" if changed else "unchanged"

    def _sole_leader(self, cells: Cells, plan: PersonPlan, grid: Org | DraftOrg) -> bool:
        """A grid has one grid leader: not a second one in the workbook, nor someone else on record."""
        if self._repeat(cells, ("leader", grid), "post", "第 {} 行已是该网格的网格长，一个网格只有一位网格长"):
            return False
        now = self.leaders.get(grid.id, {}) if isinstance(grid, Org) else {}
        others = [name for person_id, name in now.items() if plan.person is None or person_id != plan.person.id]
        if others:
            cells.fail("post", f"{grid.name}已有网格长{'、'.join(sorted(others))}，一个网格只有一位网格长")
        return not others

    def _staff_row(self, cells: Cells, ident: Ident | None) -> None:
        grid = self._grid(cells, self._community(cells))
        post = cells.choice("post")
        if not cells.ok or ident is None:
            return
        plan = self._person(cells, ident)
        role = _POST_ROLES[post]
        if plan is None or self._repeat(cells, (plan, grid), "name", "与第 {} 行是同一人同一网格"):
            return
        if role == Role.grid_leader and not self._sole_leader(cells, plan, grid):
            return
        granted = self._grant(plan, grid, role)
        self.staff.append(StaffRow(plan, grid, role))
        self._count(cells, self._outcome(plan, ident, {}, granted))

    def _party_row(self, cells: Cells, ident: Ident | None) -> None:
        kind = cells.choice("kind") or "其他"
        work_unit = cells.text("work_unit", 100)
        community = self._community(cells)
        if kind == "在职" and work_unit is None and not cells.failed("work_unit", "kind"):
            cells.fail("work_unit", "在职党员请填写工作单位")
        if not cells.ok or ident is None:
            return
        plan = self._person(cells, ident)
        if plan is None or self._repeat(cells, (plan,), "name", "与第 {} 行是同一人"):
            return
        attrs = {"is_party_member": True, "is_in_service": kind == "在职", "is_mobile": kind == "流动",
                 "is_retired": kind == "退休", "work_unit": work_unit, "home_community_id": community.id}
        plan.attrs.update(attrs)
        granted = self._grant(plan, community, Role.party_member)
        self._count(cells, self._outcome(plan, ident, attrs, granted))

    def _volunteer_row(self, cells: Cells, ident: Ident | None) -> None:
        community = self._community(cells)
        grid = self._grid(cells, community) if cells.given("grid") else None
        if not cells.ok or ident is None:
            return
        plan = self._person(cells, ident)
        org = grid or community
        if plan is None or self._repeat(cells, (plan, org), "name", "与第 {} 行是同一人同一组织"):
            return
        granted = self._grant(plan, org, Role.volunteer)
        self._count(cells, self._outcome(plan, ident, {}, granted))

    # --- the outcome -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Orgs and people the import creates or changes, and roles it grants."""
        named = self.people.named()
        return {"orgs_created": len(self.drafts), "orgs_updated": len({org for org, _ in self.org_changes}),
                "people_created": sum(1 for p in named if p.person is None),
                "people_updated": sum(1 for p in named if p.person is not None and (p.changes() or p.grants)),
                "memberships_created": sum(len(p.grants) for p in named)}

    def apply(self, created_by: Person) -> None:
        """Write the plan: new orgs, changed orgs, new and changed people, then their roles."""
        created = create_orgs([(draft.name, draft.kind, draft.parent) for draft in self.drafts])
        for draft, org in zip(self.drafts, created, strict=True):
            draft.org, org.buildings = org, draft.buildings
        for (org, attribute), value in self.org_changes.items():
            setattr(org, attribute, value)
        named = self.people.named()
        fresh = []
        for plan in named:
            if plan.person is None:
                plan.person = Person(created_by_id=created_by.id, **plan.changes())
                fresh.append(plan.person)
            else:
                for attribute, value in plan.changes().items():
                    setattr(plan.person, attribute, value)
        db.session.add_all(fresh)
        db.session.flush()
        db.session.add_all([Membership(person_id=plan.person.id, role=role.value,
                                       org_id=(org.org if isinstance(org, DraftOrg) else org).id)
                            for plan in named for org, role in plan.grants])
        db.session.flush()
