"""Rubrics as data: TOML files beside this module, validated when loaded and stored as
immutable versions. A campaign points at one version, so editing a file never changes a
campaign that is under way: the edited file becomes the next version."""

from __future__ import annotations

import hashlib
import tomllib
from decimal import Decimal
from functools import cache
from pathlib import Path

import sqlalchemy as sa

from backend.core.errors import NotFound
from backend.extensions import db
from backend.polls.models import Audience
from backend.rating import deductions
from backend.rating.ledger import canonical
from backend.rating.metrics import METRICS
from backend.rating.models import Rubric, Source

RUBRIC_DIR = Path(__file__).with_name("rubrics")
KINDS = ("stars", "grades")


class RubricError(ValueError):
    """A rubric file that does not add up; the message names the file and the item."""


def _points(value, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RubricError(f"{where}: points must be a non-negative number, not {value!r}")
    return Decimal(str(value))


def validate(body: dict, name: str = "rubric") -> None:
    """Raise RubricError unless the rubric adds up and every source and metric is known."""
    for key in ("code", "title", "kind", "standards", "rules"):
        if key not in body:
            raise RubricError(f"{name}: missing '{key}'")
    if body["kind"] not in KINDS:
        raise RubricError(f"{name}: kind must be one of {KINDS}")
    seen: set[str] = set()
    for standard in body["standards"]:
        _standard(standard, seen, name, body)
    whole = sum(_points(s["max_points"], name) for s in body["standards"])
    if whole != 100:
        raise RubricError(f"{name}: standards add up to {whole}, not 100")
    _rules(body, name)


def _standard(standard: dict, seen: set[str], name: str, body: dict) -> None:
    where = f"{name} {standard.get('code')}"
    if standard.get("code") in seen or not standard.get("code"):
        raise RubricError(f"{where}: standard code missing or repeated")
    seen.add(standard["code"])
    total = Decimal(0)
    for criterion in standard.get("criteria") or []:
        total += _criterion(criterion, seen, f"{name} {criterion.get('code')}", body)
    if total != _points(standard.get("max_points"), where):
        raise RubricError(f"{where}: criteria add up to {total}, not {standard.get('max_points')}")


def _rules(body: dict, name: str) -> None:
    rules = body["rules"]
    if body["kind"] == "stars":
        for key in ("star_threshold", "quotas", "bonus"):
            if key not in rules:
                raise RubricError(f"{name}: rules.{key} missing")
        if any(c["source"] == Source.poll for s in body["standards"] for c in s.get("criteria", [])) \
                and "poll" not in body:
            raise RubricError(f"{name}: poll criteria need a [poll] table")
    else:
        floors = [g["min"] for g in rules.get("grades", [])]
        if not floors or floors != sorted(floors, reverse=True) or floors[-1] != 0:
            raise RubricError(f"{name}: rules.grades must run from the highest minimum down to 0")


def _criterion(criterion: dict, seen: set[str], where: str, body: dict) -> Decimal:
    code = criterion.get("code")
    if not code or code in seen:
        raise RubricError(f"{where}: criterion code missing or repeated")
    seen.add(code)
    if not criterion.get("title"):
        raise RubricError(f"{where}: title missing")
    most = _points(criterion.get("max_points"), where)
    if criterion.get("source") not in set(Source):
        raise RubricError(f"{where}: unknown source {criterion.get('source')!r}")
    _poll_item(criterion, where, body)
    for n, option in enumerate(criterion.get("deductions") or [], 1):
        _deduction(option, f"{where} deduction {n}", most)
    if criterion["source"] == Source.metric:
        parts = criterion.get("parts") or []
        if not parts:
            raise RubricError(f"{where}: a metric criterion needs parts")
        for part in parts:
            if part.get("metric") not in METRICS:
                raise RubricError(f"{where}: unknown metric {part.get('metric')!r}")
            if part.get("full_at") == part.get("zero_at") or None in (part.get("full_at"), part.get("zero_at")):
                raise RubricError(f"{where}: full_at and zero_at must differ")
        split = sum(_points(p.get("points", criterion["max_points"]), where) for p in parts)
        if split != most:
            raise RubricError(f"{where}: parts add up to {split}, not {most}")
    return most


#: The keys each kind of deduction item has: a misspelt key is an error, not a silent default.
_DEDUCTION_KEYS = {deductions.ONCE: {"kind", "text", "points"},
                   deductions.PER_COUNT: {"kind", "text", "points", "max_count", "unit"},
                   deductions.ONE_OF: {"kind", "text", "choices"}}


def _deduction(option: dict, where: str, most: Decimal) -> None:
    """One deduction item: a known kind with its keys, a text, and points (per instance, or
    per choice) above 0 and at most the criterion's."""
    kind = deductions.kind_of(option)
    if kind not in deductions.KINDS:
        raise RubricError(f"{where}: kind must be one of {deductions.KINDS}, not {kind!r}")
    stray = set(option) - _DEDUCTION_KEYS[kind]
    if stray:
        raise RubricError(f"{where}: a {kind} deduction has no {', '.join(sorted(stray))}")
    if not option.get("text"):
        raise RubricError(f"{where}: a deduction needs text")
    if kind == deductions.PER_COUNT:
        count = option.get("max_count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise RubricError(f"{where}: a per_count deduction needs max_count, a whole number of at least 2")
    for priced in _choices(option, where) if kind == deductions.ONE_OF else [option]:
        if not 0 < _points(priced.get("points"), where) <= most:
            raise RubricError(f"{where}: a deduction takes more than 0 and at most {most} points")


def _choices(option: dict, where: str) -> list[dict]:
    choices = option.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        raise RubricError(f"{where}: a one_of deduction needs at least two choices")
    for choice in choices:
        if not isinstance(choice, dict) or not choice.get("text") or set(choice) - {"text", "points"}:
            raise RubricError(f"{where}: each choice of a one_of deduction has text and points, and nothing else")
    return choices


def _poll_item(criterion: dict, where: str, body: dict) -> None:
    """A poll item names the audiences whose polls feed it, each with a minimum sample."""
    if criterion["source"] != Source.poll:
        if "audience" in criterion:
            raise RubricError(f"{where}: only a poll criterion has an audience")
        return
    known = [a.value for a in Audience]
    audience = criterion.get("audience")
    if not isinstance(audience, list) or not audience or len(set(audience)) != len(audience) \
            or not set(audience) <= set(known):
        raise RubricError(f"{where}: a poll criterion needs audience, a list of distinct {known}, "
                          f"not {audience!r}")
    minimum = body.get("poll", {}).get("min_answers", {})
    for name in audience:
        if name not in minimum:
            raise RubricError(f"{where}: audience {name!r} has no [poll] min_answers")


def poll_audiences(criterion: dict) -> tuple[str, ...] | None:
    """The audiences whose polls feed a poll item; None for a version stored before items
    named their audience (every audience fed it then)."""
    audience = criterion.get("audience")
    return tuple(audience) if audience is not None else None


def poll_items(body: dict) -> dict[str, tuple[str, ...] | None]:
    """Criterion code → the audiences feeding it, for the rubric's poll items."""
    return {c["code"]: poll_audiences(c) for _, c in criteria_of(body) if c["source"] == Source.poll}


@cache
def files() -> dict[str, dict]:
    """Every rubric file by code, parsed and validated (once per process)."""
    found = {}
    for path in sorted(RUBRIC_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            body = tomllib.load(handle)
        validate(body, path.name)
        if body["code"] in found:
            raise RubricError(f"{path.name}: code {body['code']} used twice")
        found[body["code"]] = body
    return found


def current(code: str) -> Rubric:
    """The file as it is now: its stored version, or (no campaign has used this text yet) an
    unsaved row with the version number it will be stored as. Reading writes nothing."""
    body = files().get(code)
    if body is None:
        raise NotFound("没有这个评定标准", code="unknown_rubric")
    digest = hashlib.sha256(canonical(body).encode()).hexdigest()
    stored = db.session.scalar(sa.select(Rubric).where(Rubric.code == code, Rubric.content_hash == digest))
    if stored is not None:
        return stored
    latest = db.session.scalar(sa.select(sa.func.max(Rubric.version)).where(Rubric.code == code)) or 0
    return Rubric(code=code, version=latest + 1, content_hash=digest, title=body["title"], kind=body["kind"],
                  body=body)


def ensure(code: str) -> Rubric:
    """The stored version matching the file now; a changed file becomes a new version."""
    found = current(code)
    if not sa.inspect(found).persistent:
        db.session.add(found)
        db.session.flush()
    return found


def criteria_of(body: dict) -> list[tuple[dict, dict]]:
    """(standard, criterion) pairs in the rubric's order."""
    return [(standard, criterion) for standard in body["standards"] for criterion in standard.get("criteria", [])]


def items_of(body: dict) -> dict[str, dict]:
    """Criterion code → the rubric's criterion."""
    return {criterion["code"]: criterion for _, criterion in criteria_of(body)}
