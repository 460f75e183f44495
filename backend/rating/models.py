"""The star rating: rubric versions, campaigns (创评周期), scorecards and their criterion scores,
the score events a dashboard streams, the organisational-life record (meetings), appeals,
problem lists, and the tamper-evident campaign ledger (台账)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check

#: Points are kept to two decimals everywhere, so 16.00 ≥ 16 is exact.
POINTS = sa.Numeric(7, 2)


class Phase(enum.StrEnum):
    open = "open"
    self_evaluation = "self_evaluation"
    review = "review"
    audit = "audit"
    appeal = "appeal"
    final = "final"


PHASE_ORDER = list(Phase)
PHASE_LABELS = {Phase.open: "已发布", Phase.self_evaluation: "自我评定", Phase.review: "街道初审",
                Phase.audit: "组织审核", Phase.appeal: "结果反馈与申诉", Phase.final: "已定级"}
#: Poll and metric criteria follow the data until results are published for appeal.
LIVE_PHASES = (Phase.open, Phase.self_evaluation, Phase.review, Phase.audit)


class Source(enum.StrEnum):
    manual = "manual"
    poll = "poll"
    metric = "metric"


#: How a criterion's points are made, as pages and the export say it (never the bare key).
SOURCE_LABELS = {Source.manual: "人工评分", Source.poll: "测评计算", Source.metric: "数据自动计算"}


class Rubric(db.Model):
    """One version of a rubric file, stored whole. Never changed: a changed file is a new row."""

    __tablename__ = "rubrics"
    __table_args__ = (
        sa.UniqueConstraint("code", "version", name="uq_rubrics_code_version"),
        sa.UniqueConstraint("code", "content_hash", name="uq_rubrics_code_content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column()
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RatingPeriod(db.Model):
    __tablename__ = "rating_periods"
    __table_args__ = (sa.CheckConstraint(enum_check("phase", Phase), name="phase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    year: Mapped[int] = mapped_column()
    rubric_id: Mapped[int] = mapped_column(sa.ForeignKey("rubrics.id", ondelete="RESTRICT"))
    #: The street (or higher org) that runs the campaign; its officers advance it.
    run_by_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    phase: Mapped[str] = mapped_column(sa.String(16), default=Phase.open.value)
    #: Local date the results were published for appeal, and the last day to appeal.
    published_on: Mapped[date | None] = mapped_column()
    appeal_deadline: Mapped[date | None] = mapped_column()
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The newest ledger entry: appends lock this row, so the chain never forks.
    ledger_seq: Mapped[int] = mapped_column(default=0)
    ledger_head: Mapped[str] = mapped_column(sa.String(64), default="0" * 64)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rubric: Mapped[Rubric] = relationship()
    run_by: Mapped[Org] = relationship()
    scorecards: Mapped[list[Scorecard]] = relationship(back_populates="period", order_by="Scorecard.id")

    @property
    def phase_label(self) -> str:
        return PHASE_LABELS[Phase(self.phase)]


class Scorecard(db.Model):
    __tablename__ = "scorecards"
    __table_args__ = (
        sa.UniqueConstraint("period_id", "org_id", name="uq_scorecards_period_id_org_id"),
        sa.CheckConstraint("claimed_stars BETWEEN 0 AND 5", name="claimed_stars"),
        sa.CheckConstraint("review_stars BETWEEN 0 AND 5", name="review_stars"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    total: Mapped[Decimal] = mapped_column(POINTS, default=Decimal("0"))
    #: Per standard code → points (text, exact), kept with every change of a criterion.
    standards: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: Stars earned by the points (stars rubrics) or the grade (grades rubrics), live.
    stars: Mapped[int | None] = mapped_column()
    grade: Mapped[str | None] = mapped_column(sa.String(16))
    #: Set at finalisation: the title after quotas, whether a quota capped it, the bonus.
    final_stars: Mapped[int | None] = mapped_column()
    capped: Mapped[bool] = mapped_column(default=False)
    bonus: Mapped[int | None] = mapped_column()
    #: 自我评价报告: per standard evaluation, problems and causes, measures, next steps.
    self_report: Mapped[dict | None] = mapped_column(sa.JSON)
    self_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 自我定级: the level the community claims in its self-report (stars, or a grade name).
    claimed_stars: Mapped[int | None] = mapped_column()
    claimed_grade: Mapped[str | None] = mapped_column(sa.String(16))
    #: 初评意见: the level the street proposes at the end of review, and why.
    review_stars: Mapped[int | None] = mapped_column()
    review_grade: Mapped[str | None] = mapped_column(sa.String(16))
    review_opinion: Mapped[str | None] = mapped_column(sa.String(2000))
    review_opinion_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The street's reason to let this org keep its stars beyond the quota (原则上 15 % / 30 %).
    quota_exception: Mapped[str | None] = mapped_column(sa.String(1000))
    quota_exception_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    period: Mapped[RatingPeriod] = relationship(back_populates="scorecards")
    org: Mapped[Org] = relationship()
    criteria: Mapped[list[CriterionScore]] = relationship(back_populates="scorecard", order_by="CriterionScore.id",
                                                         cascade="all, delete-orphan")

    @property
    def rubric_body(self) -> dict:
        """The rubric its campaign scores by."""
        return self.period.rubric.body

    @property
    def year(self) -> int:
        """Its campaign's year."""
        return self.period.year


class Overridable:
    """What a criterion's override columns say, whether it is an ORM object or read as columns
    (`rating.service.CriterionRead`): its override_points, override_basis and computed_points."""

    @property
    def overridden(self) -> bool:
        return self.override_points is not None

    @property
    def moved_since_override(self) -> bool:
        """The computed value changed after the street set its override."""
        return self.overridden and self.override_basis != self.computed_points


class CriterionScore(Overridable, db.Model):
    __tablename__ = "criterion_scores"
    __table_args__ = (
        sa.CheckConstraint(enum_check("source", Source), name="source"),
        sa.CheckConstraint("points >= 0 AND points <= max_points", name="points"),
        sa.CheckConstraint("override_points >= 0 AND override_points <= max_points", name="override_points"),
        sa.UniqueConstraint("scorecard_id", "code", name="uq_criterion_scores_scorecard_id_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(sa.ForeignKey("scorecards.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(16))
    standard_code: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(8))
    max_points: Mapped[Decimal] = mapped_column(POINTS)
    #: What counts in the total: the street's override when there is one, else `computed_points`.
    points: Mapped[Decimal] = mapped_column(POINTS, default=Decimal("0"))
    #: What the source gives (poll, metric, or the manual entry); it keeps following the data
    #: under an override, so the scorecard can show both.
    computed_points: Mapped[Decimal] = mapped_column(POINTS, default=Decimal("0"))
    #: A poll below its minimum sample: the value it would have, shown but not counted.
    provisional: Mapped[Decimal | None] = mapped_column(POINTS)
    inputs: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    explanation: Mapped[str] = mapped_column(sa.String(300), default="")
    #: Manual criteria: who entered it, why, the evidence, and the deductions ticked.
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    evidence_url: Mapped[str | None] = mapped_column(sa.String(500))
    evidence_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rating_evidence.id", ondelete="SET NULL"))
    deductions: Mapped[list | None] = mapped_column(sa.JSON)
    #: Poll and metric criteria: the time the stored value was computed as of. The drift
    #: check recomputes it as of then, so a figure that moved with time alone is not drift.
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: 街道核定: the street's value in review or audit, which counts until the street removes
    #: it, with its note, evidence, and the computed value it was set against.
    override_points: Mapped[Decimal | None] = mapped_column(POINTS)
    override_basis: Mapped[Decimal | None] = mapped_column(POINTS)
    override_note: Mapped[str | None] = mapped_column(sa.String(1000))
    override_evidence_url: Mapped[str | None] = mapped_column(sa.String(500))
    override_evidence_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("rating_evidence.id", ondelete="SET NULL"))
    override_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    override_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scorecard: Mapped[Scorecard] = relationship(back_populates="criteria")
    evidence: Mapped[Evidence | None] = relationship(foreign_keys=[evidence_id])
    override_evidence: Mapped[Evidence | None] = relationship(foreign_keys=[override_evidence_id])


class Evidence(db.Model):
    """A file behind a score or a meeting record; the bytes live under EVIDENCE_DIR by their SHA-256."""

    __tablename__ = "rating_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The campaign of a score's evidence; None for a meeting's (meetings outlive campaigns).
    period_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    extension: Mapped[str] = mapped_column(sa.String(8))
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int] = mapped_column()
    filename: Mapped[str] = mapped_column(sa.String(120))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: First taken up by a score (and so named in the ledger); never-attached uploads are swept.
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The bytes between `evidence.receive` and `evidence.keep`; never stored in the database.
    data = None


class ScoreEvent(db.Model):
    """One change of one criterion, with what it did to the standard, the total and the stars."""

    __tablename__ = "score_events"
    __table_args__ = (sa.Index("ix_score_events_period_org", "period_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(sa.String(16))
    standard: Mapped[str] = mapped_column(sa.String(16))
    old: Mapped[Decimal] = mapped_column(POINTS)
    new: Mapped[Decimal] = mapped_column(POINTS)
    standard_total: Mapped[Decimal] = mapped_column(POINTS)
    total: Mapped[Decimal] = mapped_column(POINTS)
    stars_before: Mapped[int | None] = mapped_column()
    stars_after: Mapped[int | None] = mapped_column()
    cause: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeetingKind(enum.StrEnum):
    joint = "joint"                 # 党建联席会议
    general = "general"             # 支部党员大会
    committee = "committee"         # 支委会
    group = "group"                 # 党小组会
    lecture = "lecture"             # 党课
    theme_day = "theme_day"         # 主题党日
    consultation = "consultation"   # 协商议事会


MEETING_LABELS = {MeetingKind.joint: "党建联席会议", MeetingKind.general: "支部党员大会",
                  MeetingKind.committee: "支委会", MeetingKind.group: "党小组会", MeetingKind.lecture: "党课",
                  MeetingKind.theme_day: "主题党日", MeetingKind.consultation: "协商议事会"}


class MeetingStatus(enum.StrEnum):
    counted = "counted"        # counts: dated within BACKDATE_DAYS, or confirmed by the street
    pending = "pending"        # dated further back by the community: waits for the street
    struck = "struck"          # struck out by the street, with its reason
    corrected = "corrected"    # replaced by a correction (a new record naming this one)


MEETING_STATUS_LABELS = {MeetingStatus.counted: "已计入", MeetingStatus.pending: "待街道确认",
                         MeetingStatus.struck: "街道已删除", MeetingStatus.corrected: "已更正"}
#: A meeting dated further back than this needs a street officer's confirmation to count.
BACKDATE_DAYS = 30


class Meeting(db.Model):
    """Organisational life a secretary records; R2 and O2 are computed from the records that
    count. A record is never edited (the database refuses it): a correction is a new record
    naming the one it replaces, and the street confirms or strikes records with a reason."""

    __tablename__ = "meetings"
    __table_args__ = (
        sa.CheckConstraint(enum_check("kind", MeetingKind), name="kind"),
        sa.CheckConstraint(enum_check("status", MeetingStatus), name="status"),
        sa.CheckConstraint("attendance >= 0", name="attendance"),
        sa.Index("ix_meetings_org_held_on", "org_id", "held_on"),
        # A record is corrected once: two corrections sent together cannot both replace it.
        sa.UniqueConstraint("replaces_id", name="uq_meetings_replaces_id",
                            info=conflict_info("already_corrected", "这条记录已经更正过")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    held_on: Mapped[date] = mapped_column()
    topic: Mapped[str] = mapped_column(sa.String(120))
    attendance: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16), default=MeetingStatus.counted.value)
    #: The minutes or a photo; without one, the recorder says why.
    evidence_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rating_evidence.id", ondelete="SET NULL"))
    no_evidence_reason: Mapped[str | None] = mapped_column(sa.String(300))
    #: A correction names the record it replaces and says what was wrong.
    replaces_id: Mapped[int | None] = mapped_column(sa.ForeignKey("meetings.id", ondelete="SET NULL"))
    correction_note: Mapped[str | None] = mapped_column(sa.String(300))
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    struck_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    struck_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    strike_reason: Mapped[str | None] = mapped_column(sa.String(300))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship()
    evidence: Mapped[Evidence | None] = relationship()

    @property
    def kind_label(self) -> str:
        return MEETING_LABELS[MeetingKind(self.kind)]

    @property
    def status_label(self) -> str:
        return MEETING_STATUS_LABELS[MeetingStatus(self.status)]

    @property
    def counts(self) -> bool:
        return self.status == MeetingStatus.counted.value

    @property
    def change_label(self) -> str:
        """What happened to the record, for the score event it causes."""
        what = f"{self.kind_label}（{self.held_on:%m月%d日}）"
        if self.status == MeetingStatus.struck.value:
            return f"街道删除{what}"
        if self.status == MeetingStatus.corrected.value or self.replaces_id is not None:
            return f"更正{what}"
        if self.confirmed_by_id is not None and self.confirmed_by_id != self.created_by_id:
            return f"街道确认{what}"
        return f"记录{what}"


class AppealStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


class Appeal(db.Model):
    __tablename__ = "appeals"
    __table_args__ = (
        sa.CheckConstraint(enum_check("status", AppealStatus), name="status"),
        # One appeal waiting per org and campaign.
        sa.Index("uq_appeals_pending", "period_id", "org_id", unique=True,
                 sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"),
                 info=conflict_info("appeal_pending", "已有一份申诉正在处理")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    reasons: Mapped[str] = mapped_column(sa.String(2000))
    material_url: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default=AppealStatus.pending.value)
    decision_note: Mapped[str | None] = mapped_column(sa.String(1000))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Org] = relationship()


class ProblemStatus(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"


PROBLEM_LABELS = {ProblemStatus.open: "未整改", ProblemStatus.in_progress: "整改中", ProblemStatus.done: "已整改"}


class Problem(db.Model):
    """问题清单: what an org of three stars or fewer must fix, how, who, by when."""

    __tablename__ = "rating_problems"
    __table_args__ = (sa.CheckConstraint(enum_check("status", ProblemStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    standard_code: Mapped[str | None] = mapped_column(sa.String(16))
    problem: Mapped[str] = mapped_column(sa.String(500))
    measure: Mapped[str | None] = mapped_column(sa.String(500))
    owner: Mapped[str | None] = mapped_column(sa.String(40))
    deadline: Mapped[date | None] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16), default=ProblemStatus.open.value)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def status_label(self) -> str:
        return PROBLEM_LABELS[ProblemStatus(self.status)]


class CampaignEntry(db.Model):
    """台账: append-only; each entry's hash covers the previous hash and its own canonical
    body, and the database refuses UPDATE and DELETE (triggers in the migration)."""

    __tablename__ = "campaign_ledger"
    __table_args__ = (sa.UniqueConstraint("period_id", "seq", name="uq_campaign_ledger_period_id_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(sa.String(32))
    org_id: Mapped[int | None] = mapped_column()
    #: Canonical JSON (sorted keys, no spaces) of everything the entry says, hashed as stored.
    body: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
