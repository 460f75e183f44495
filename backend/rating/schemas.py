from __future__ import annotations

from marshmallow import ValidationError, validate, validates_schema

from backend.core import fields
from backend.core.schemas import Schema
from backend.rating.models import PHASE_ORDER, MeetingKind, ProblemStatus


class CriterionRuleSchema(Schema):
    code = fields.String()
    title = fields.String()
    max_points = fields.Float()
    source = fields.String(metadata={"description": "manual, poll or metric"})
    rule = fields.Dict(metadata={"description": "metric parts, poll parameters or deduction items (kind once, "
                                                "per_count with max_count and unit, or one_of with choices)"})


class StandardRuleSchema(Schema):
    code = fields.String()
    title = fields.String()
    max_points = fields.Float()
    criteria = fields.List(fields.Nested(CriterionRuleSchema))


class RubricSchema(Schema):
    code = fields.String()
    version = fields.Integer()
    content_hash = fields.String()
    title = fields.String()
    kind = fields.String(metadata={"description": "stars (wuhua) or grades (zhengxian)"})
    rules = fields.Dict()
    standards = fields.List(fields.Nested(StandardRuleSchema))


class PeriodCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=80))
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))
    rubric_code = fields.String(required=True, validate=validate.Length(max=64))
    org_ids = fields.List(fields.Integer(strict=True), required=True, validate=validate.Length(min=1, max=500))
    run_by_id = fields.Integer(strict=True, metadata={"description": "the street running it (default: the "
                                                                     "parent of the first org)"})


class PeriodSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    year = fields.Integer()
    phase = fields.String()
    phase_label = fields.String()
    rubric_code = fields.Function(lambda p: p.rubric.code)
    rubric_version = fields.Function(lambda p: p.rubric.version)
    run_by_id = fields.Integer()
    published_on = fields.Date(allow_none=True)
    appeal_deadline = fields.Date(allow_none=True)
    finalised_at = fields.AwareDateTime(allow_none=True)
    ledger_head = fields.String()


class AdvanceSchema(Schema):
    from_ = fields.String(required=True, data_key="from", validate=validate.OneOf([p.value for p in PHASE_ORDER]),
                          metadata={"description": "the phase it leaves, as the client saw it (a stale one is 409)"})
    to = fields.String(validate=validate.OneOf([p.value for p in PHASE_ORDER]),
                       metadata={"description": "the expected next phase (guards against a double click)"})


class EvidenceSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    url = fields.Function(lambda e: f"/api/v1/evidence/{e.id}")


class DeductionTickSchema(Schema):
    index = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    count = fields.Integer(strict=True, validate=validate.Range(min=0, max=1000),
                           metadata={"description": "instances of a per_count deduction (0: none)"})
    choice = fields.Integer(strict=True, validate=validate.Range(min=0),
                            metadata={"description": "which alternative of a one_of deduction applies"})


_TICK_DOC = {"oneOf": [{"type": "integer", "minimum": 0},
                       {"type": "object", "required": ["index"], "properties": {
                           "index": {"type": "integer", "minimum": 0}, "count": {"type": "integer", "minimum": 0},
                           "choice": {"type": "integer", "minimum": 0}}}]}


class DeductionTick(fields.Field):
    """One deduction that applies: the index of a rubric item's deduction, or `{index, count}`
    (counted per instance) or `{index, choice}` (one of alternatives)."""

    default_error_messages = {"invalid": "扣分项应为序号，或 {{index, count}}、{{index, choice}}"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, dict):
            return DeductionTickSchema().load(value)
        raise self.make_error("invalid")


class CriterionScoreSchema(Schema):
    code = fields.String()
    standard = fields.String(attribute="standard_code")
    points = fields.Float()
    max_points = fields.Float()
    source = fields.String()
    computed_points = fields.Float(metadata={"description": "what the source gives; equals points unless "
                                                            "the street has overridden it"})
    override = fields.Function(lambda row: _override(row), allow_none=True,
                             metadata={"description": "the street's override (街道核定): points, note, evidence, "
                                                      "the computed value it was set against, and whether the "
                                                      "computed value has moved since"})
    provisional = fields.Float(allow_none=True)
    inputs = fields.Dict()
    explanation = fields.String()
    note = fields.String(allow_none=True)
    evidence_url = fields.String(allow_none=True)
    evidence = fields.Nested(EvidenceSchema, allow_none=True)
    deductions = fields.List(fields.Raw(metadata=_TICK_DOC), allow_none=True,
                             metadata={"description": "the deductions that apply, as sent: an index, "
                                                      "{index, count} or {index, choice}"})
    updated_at = fields.AwareDateTime()


class ScorecardRowSchema(Schema):
    org_id = fields.Integer()
    org_name = fields.Function(lambda c: c.org.name)
    total = fields.Float()
    standards = fields.Dict(keys=fields.String(), values=fields.Float())
    stars = fields.Integer(allow_none=True)
    grade = fields.String(allow_none=True)
    final_stars = fields.Integer(allow_none=True)
    capped = fields.Boolean()
    bonus = fields.Integer(allow_none=True)
    self_report_at = fields.AwareDateTime(allow_none=True)
    claimed_stars = fields.Integer(allow_none=True, metadata={"description": "自我定级 (star rubrics)"})
    claimed_grade = fields.String(allow_none=True, metadata={"description": "自我定级 (grade rubrics)"})
    review_stars = fields.Integer(allow_none=True, metadata={"description": "初评意见: the level the street proposes"})
    review_grade = fields.String(allow_none=True)
    review_opinion = fields.String(allow_none=True)
    quota_exception = fields.String(allow_none=True, metadata={"description": "the street's reason to let this org "
                                                                             "keep its stars beyond the quota"})
    updated_at = fields.AwareDateTime()


class ScorecardSchema(ScorecardRowSchema):
    period_id = fields.Integer()
    self_report = fields.Dict(allow_none=True)
    criteria = fields.List(fields.Nested(CriterionScoreSchema))


class ManualScoreSchema(Schema):
    points = fields.Decimal(places=2, validate=validate.Range(min=0), allow_none=True)
    deductions = fields.List(DeductionTick(metadata=_TICK_DOC), validate=validate.Length(max=50),
                             metadata={"description": "the rubric item's deductions that apply: an index (a "
                                                      "`once` item, or one instance of a `per_count` one), "
                                                      "{index, count} for a `per_count` item, {index, choice} "
                                                      "for a `one_of` item; points = max − what they lose"})
    note = fields.String(required=True, validate=validate.Length(min=2, max=1000))
    evidence_url = fields.Url(allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=500))
    evidence_id = fields.Integer(strict=True, allow_none=True,
                                 metadata={"description": "a file from POST …/scorecards/{org_id}/evidence"})

    # Also when the note is missing: a refused form says everything that is wrong at once.
    @validates_schema(skip_on_field_errors=False)
    def _something(self, data, **kwargs):
        if data.get("points") is None and data.get("deductions") is None:
            raise ValidationError("请填写得分或勾选扣分项", field_name="points")


class OverrideSchema(Schema):
    points = fields.Decimal(required=True, places=2, validate=validate.Range(min=0))
    note = fields.String(required=True, validate=validate.Length(min=2, max=1000))
    evidence_url = fields.Url(allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=500))
    evidence_id = fields.Integer(strict=True, allow_none=True,
                                 metadata={"description": "a file from POST …/scorecards/{org_id}/evidence"})


class ReasonSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=2, max=1000))


class QuotaExceptionSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=5, max=1000))


class ReviewOpinionSchema(Schema):
    stars = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=5),
                           metadata={"description": "the level proposed (star rubrics)"})
    grade = fields.String(allow_none=True, validate=validate.Length(max=16),
                          metadata={"description": "the level proposed (grade rubrics)"})
    opinion = fields.String(required=True, validate=validate.Length(min=5, max=2000))


class SelfReportSchema(Schema):
    claimed_stars = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=5),
                                   metadata={"description": "自我定级, required for star rubrics"})
    claimed_grade = fields.String(allow_none=True, validate=validate.Length(max=16),
                                  metadata={"description": "自我定级, required for grade rubrics"})
    evaluation = fields.String(required=True, validate=validate.Length(min=2, max=5000))
    problems = fields.String(required=True, validate=validate.Length(min=2, max=5000))
    measures = fields.String(required=True, validate=validate.Length(min=2, max=5000))
    next_steps = fields.String(required=True, validate=validate.Length(min=2, max=5000))


class ScoreEventSchema(Schema):
    id = fields.Integer()
    criterion = fields.String()
    standard = fields.String()
    old = fields.Float()
    new = fields.Float()
    standard_total = fields.Float()
    total = fields.Float()
    stars_before = fields.Integer(allow_none=True)
    stars_after = fields.Integer(allow_none=True)
    cause = fields.String()
    created_at = fields.AwareDateTime()


class EventArgs(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class AppealCreateSchema(Schema):
    reasons = fields.String(required=True, validate=validate.Length(min=5, max=2000))
    material_url = fields.Url(allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=500))


class ScoreChangeSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(max=16))
    points = fields.Decimal(required=True, places=2, validate=validate.Range(min=0))
    note = fields.String(validate=validate.Length(max=1000))


class AppealDecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["accept", "reject"]))
    note = fields.String(required=True, validate=validate.Length(min=2, max=1000))
    changes = fields.List(fields.Nested(ScoreChangeSchema), load_default=list, validate=validate.Length(max=50))


class AppealSchema(Schema):
    id = fields.Integer()
    period_id = fields.Integer()
    org_id = fields.Integer()
    reasons = fields.String()
    material_url = fields.String(allow_none=True)
    status = fields.String()
    decision_note = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)


class ProblemCreateSchema(Schema):
    problem = fields.String(required=True, validate=validate.Length(min=2, max=500))
    measure = fields.String(validate=validate.Length(max=500))
    owner = fields.String(validate=validate.Length(max=40))
    deadline = fields.Date()
    standard_code = fields.String(validate=validate.Length(max=16))


class ProblemUpdateSchema(Schema):
    problem = fields.String(validate=validate.Length(min=2, max=500))
    measure = fields.String(validate=validate.Length(max=500), allow_none=True)
    owner = fields.String(validate=validate.Length(max=40), allow_none=True)
    deadline = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf([s.value for s in ProblemStatus]))


class ProblemSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    standard_code = fields.String(allow_none=True)
    problem = fields.String()
    measure = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    deadline = fields.Date(allow_none=True)
    status = fields.String()
    updated_at = fields.AwareDateTime()


class CampaignEntrySchema(Schema):
    id = fields.Integer()
    seq = fields.Integer()
    kind = fields.String()
    org_id = fields.Integer(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    at = fields.String()
    data = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class AnchorCheckSchema(Schema):
    line = fields.Integer()
    at = fields.String()
    period_id = fields.Integer()
    seq = fields.Integer()
    hash = fields.String()
    ok = fields.Boolean()
    reason = fields.String(allow_none=True)


class VerifySchema(Schema):
    ok = fields.Boolean()
    entries = fields.Integer()
    head = fields.String()
    first_bad = fields.Dict(allow_none=True)
    #: Each anchor of the campaign (a head written outside the database) and whether it still matches.
    anchors = fields.List(fields.Nested(AnchorCheckSchema))
    first_bad_anchor = fields.Nested(AnchorCheckSchema, allow_none=True)
    anchors_unreadable = fields.Integer()


class MeetingCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in MeetingKind]))
    held_on = fields.Date(required=True)
    topic = fields.String(required=True, validate=validate.Length(min=2, max=120))
    attendance = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100000))
    evidence_id = fields.Integer(strict=True, allow_none=True,
                                 metadata={"description": "minutes or a photo from POST /orgs/{id}/meetings/evidence"})
    no_evidence_reason = fields.String(allow_none=True, validate=validate.Length(max=300),
                                       metadata={"description": "why there is no evidence (one of the two is "
                                                                "required)"})


class MeetingCorrectionSchema(MeetingCreateSchema):
    note = fields.String(required=True, validate=validate.Length(min=2, max=300),
                         metadata={"description": "what was wrong with the record it replaces"})


class StrikeSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=300))


class MeetingSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    kind = fields.String()
    kind_label = fields.String()
    held_on = fields.Date()
    topic = fields.String()
    attendance = fields.Integer()
    status = fields.String(metadata={"description": "counted, pending (dated far back: waits for the street), "
                                                    "struck or corrected"})
    status_label = fields.String()
    evidence = fields.Nested(EvidenceSchema, allow_none=True)
    no_evidence_reason = fields.String(allow_none=True)
    replaces_id = fields.Integer(allow_none=True)
    correction_note = fields.String(allow_none=True)
    confirmed_at = fields.AwareDateTime(allow_none=True)
    struck_at = fields.AwareDateTime(allow_none=True)
    strike_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


def _override(row) -> dict | None:
    if not row.overridden:
        return None
    return {"points": float(row.override_points), "basis": float(row.override_basis),
            "computed_changed": row.moved_since_override, "note": row.override_note,
            "evidence_url": row.override_evidence_url,
            "evidence": EvidenceSchema().dump(row.override_evidence) if row.override_evidence else None,
            "by_id": row.override_by_id, "at": row.override_at.isoformat() if row.override_at else None}
