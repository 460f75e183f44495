"""Satisfaction polls (党员测评 / 群众满意度测评) that can be trusted.

Anonymity by construction: `poll_responses` never hold who answered. Who has answered is
kept in `poll_ballots` as a keyed hash whose key stays in the settings (ballots.py), with
(poll, hash) as the whole row — no id, no time, no reference to a response, and on SQLite no
hidden rowid — so a ballot cannot be joined to the answer it allowed. Answers get random ids,
so their ids do not count them in the order they came either; what the storage itself keeps
of that order is rewritten away (storage.py). The primary key is also what makes "one answer
per respondent" hold under any concurrency.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check


class Audience(enum.StrEnum):
    party_member = "party_member"
    mass = "mass"


class QuestionKind(enum.StrEnum):
    rating5 = "rating5"
    choice = "choice"
    text = "text"


class Mode(enum.StrEnum):
    """How a respondent proved they answer once: strongest first."""

    account = "account"
    code = "code"
    device = "device"


class ResponseStatus(enum.StrEnum):
    ok = "ok"
    #: Part of a suspicious burst, waiting for a street officer (still counted).
    flagged = "flagged"
    #: A street officer kept it after review.
    accepted = "accepted"
    #: A street officer removed it from the results.
    excluded = "excluded"


AUDIENCE_LABELS = {Audience.party_member: "党员测评", Audience.mass: "群众满意度测评"}
MODE_LABELS = {Mode.account: "实名登录", Mode.code: "一次性测评码", Mode.device: "扫码（每台手机一次）"}
#: rating5 levels, 5 = best.
RATING_LABELS = {5: "非常满意", 4: "满意", 3: "一般", 2: "不满意", 1: "非常不满意"}

#: The id of an answer: 64-bit on PostgreSQL; on SQLite exactly INTEGER, which makes it the
#: rowid instead of leaving a hidden rowid that counts the rows in the order they came.
RANDOM_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def random_id() -> int:
    """A fresh answer id, at random below 2**53 (exact as a JavaScript number): a counter would
    number the answers in the order they came."""
    return secrets.randbelow(2**53 - 1) + 1


class Poll(db.Model):
    __tablename__ = "polls"
    __table_args__ = (
        sa.CheckConstraint(enum_check("audience", Audience), name="audience"),
        sa.CheckConstraint("closes_at > opens_at", name="window"),
        sa.CheckConstraint("allow_account OR allow_code OR allow_device", name="modes"),
        # One counted poll per audience per org per campaign; polls that count nowhere
        # (period_id NULL) are not limited, NULLs being distinct on both databases.
        sa.UniqueConstraint("org_id", "period_id", "audience", name="uq_polls_org_id_period_id_audience",
                            info=conflict_info("counted_poll_exists", "本次创评中该组织已有一份计分的同类测评")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The org being evaluated (a community, usually).
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    #: The rating campaign whose scores its mapped questions feed; set only when the street
    #: ran it with questions mapped to criteria (None: it counts nowhere).
    period_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rating_periods.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    audience: Mapped[str] = mapped_column(sa.String(16))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    allow_account: Mapped[bool] = mapped_column(default=True)
    allow_code: Mapped[bool] = mapped_column(default=False)
    allow_device: Mapped[bool] = mapped_column(default=False)
    #: Key of the ballots of a poll that was open when migration 0016a took the keys out of the
    #: database; cleared once the poll has closed and its rows are rewritten (storage.py).
    legacy_secret: Mapped[str | None] = mapped_column(sa.String(64))
    #: When its answers were last rewritten in key order (storage.py); before its close, again.
    rewritten_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship()
    questions: Mapped[list[PollQuestion]] = relationship(back_populates="poll", order_by="PollQuestion.position",
                                                         cascade="all, delete-orphan")

    def state(self, now: datetime | None = None) -> str:
        """scheduled, open or closed — from the window alone, so no job has to flip it."""
        now = now or utcnow()
        if now < self.opens_at:
            return "scheduled"
        return "open" if now < self.closes_at else "closed"

    @property
    def modes(self) -> list[str]:
        return [m.value for m, on in ((Mode.account, self.allow_account), (Mode.code, self.allow_code),
                                      (Mode.device, self.allow_device)) if on]

    @property
    def audience_label(self) -> str:
        return AUDIENCE_LABELS[Audience(self.audience)]


class PollQuestion(db.Model):
    __tablename__ = "poll_questions"
    __table_args__ = (
        sa.CheckConstraint(enum_check("kind", QuestionKind), name="kind"),
        sa.UniqueConstraint("poll_id", "position", name="uq_poll_questions_poll_id_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(8))
    #: choice: the options, in order; an answer is the option's index.
    options: Mapped[list | None] = mapped_column(sa.JSON)
    #: choice: several options may be ticked.
    multiple: Mapped[bool] = mapped_column(default=False)
    required: Mapped[bool] = mapped_column(default=True)
    #: The rubric criterion this question scores (e.g. S5), and its weight there.
    criterion_code: Mapped[str | None] = mapped_column(sa.String(16))
    weight: Mapped[float | None] = mapped_column()

    poll: Mapped[Poll] = relationship(back_populates="questions")


class PollBallot(db.Model):
    """"This respondent has answered": a keyed hash, nothing that leads to the answer. A signed-in
    person's answer writes one for the person and one for each code or phone it came with."""

    __tablename__ = "poll_ballots"
    __table_args__ = (
        sa.PrimaryKeyConstraint("poll_id", "respondent_hash", name="pk_poll_ballots",
                                info=conflict_info("already_answered", "您已参加过本次测评")),
        {"sqlite_with_rowid": False},
    )

    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    respondent_hash: Mapped[str] = mapped_column(sa.String(64))


class PollCode(db.Model):
    """A one-time code printed on a slip; whether it was used is its ballot, kept apart."""

    __tablename__ = "poll_codes"
    __table_args__ = (sa.UniqueConstraint("code", name="uq_poll_codes_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(sa.String(16))
    #: The grid the slip was handed out in (for the breakdown), if any.
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PollResponse(db.Model):
    """One accepted answer sheet. No person, no code, no device: see the module docstring."""

    __tablename__ = "poll_responses"
    __table_args__ = (
        sa.CheckConstraint(enum_check("mode", Mode), name="mode"),
        sa.CheckConstraint(enum_check("status", ResponseStatus), name="status"),
        sa.Index("ix_poll_responses_poll_id_status", "poll_id", "status"),
        sa.Index("ix_poll_responses_poll_id_network", "poll_id", "network_hash", "submitted_at"),
        # The answers of a burst not flagged yet: flagging a burst's new answer seeks to it past
        # the burst's answers flagged before.
        sa.Index("ix_poll_responses_ok_network", "poll_id", "network_hash", "submitted_at",
                 sqlite_where=sa.text("status = 'ok'"), postgresql_where=sa.text("status = 'ok'")),
    )

    id: Mapped[int] = mapped_column(RANDOM_ID, primary_key=True, autoincrement=False, default=random_id)
    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(sa.String(8))
    #: Where the respondent belongs, when known (breakdowns of ≥ POLL_MIN_GROUP only).
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"))
    #: Keyed hash of the network (IPv4 /24, IPv6 /48): for burst detection only.
    network_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: To the minute: enough for bursts, too coarse to line up with anything else.
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(10), default=ResponseStatus.ok.value)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))

    poll: Mapped[Poll] = relationship()
    answers: Mapped[list[PollAnswer]] = relationship(cascade="all, delete-orphan")


class PollAnswer(db.Model):
    __tablename__ = "poll_answers"
    __table_args__ = (sa.Index("ix_poll_answers_question_id", "question_id"),)

    id: Mapped[int] = mapped_column(RANDOM_ID, primary_key=True, autoincrement=False, default=random_id)
    response_id: Mapped[int] = mapped_column(RANDOM_ID, sa.ForeignKey("poll_responses.id", ondelete="CASCADE"),
                                             index=True)
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("poll_questions.id", ondelete="CASCADE"))
    #: rating5: 1..5; choice: the option index (one row per ticked option).
    value: Mapped[int | None] = mapped_column()
    text: Mapped[str | None] = mapped_column(sa.String(500))


class PollTally(db.Model):
    """Running aggregates, moved in the transaction of each answer (and each exclusion):
    (question, grid or 0 for all, key) → count. Keys: rating level or option index as text,
    "answered" for text questions; question 0 holds per-poll counts ("responses", "mode:…").
    No rowid on SQLite: it would number the keys in the order answers first brought them."""

    __tablename__ = "poll_tallies"
    __table_args__ = (sa.PrimaryKeyConstraint("poll_id", "question_id", "grid_id", "key", name="pk_poll_tallies"),
                      {"sqlite_with_rowid": False})

    poll_id: Mapped[int] = mapped_column(sa.ForeignKey("polls.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column()
    grid_id: Mapped[int] = mapped_column()
    key: Mapped[str] = mapped_column(sa.String(16))
    count: Mapped[int] = mapped_column(default=0)
