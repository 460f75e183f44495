"""The street's controls over what the rated organisation enters: meeting records with
evidence, street confirmation and strikes, corrections as new records (edits refused by the
database); the street's override of any criterion beside its computed value; quota
exceptions; the self-claimed level and the street's preliminary opinion

Revision ID: 0015d
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015d'
down_revision = '0015e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('criterion_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('computed_points', sa.Numeric(precision=7, scale=2), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('override_points', sa.Numeric(precision=7, scale=2), nullable=True))
        batch_op.add_column(sa.Column('override_basis', sa.Numeric(precision=7, scale=2), nullable=True))
        batch_op.add_column(sa.Column('override_note', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('override_evidence_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('override_evidence_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('override_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('override_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_criterion_scores_override_evidence_id_rating_evidence'), 'rating_evidence', ['override_evidence_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_criterion_scores_override_by_id_people'), 'people', ['override_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(op.f('ck_criterion_scores_override_points'), 'override_points >= 0 AND override_points <= max_points')
    # Until now what counted was what the source gave.
    op.execute("UPDATE criterion_scores SET computed_points = points")
    with op.batch_alter_table('criterion_scores', schema=None) as batch_op:
        batch_op.alter_column('computed_points', existing_type=sa.Numeric(precision=7, scale=2), server_default=None)

    with op.batch_alter_table('meetings', schema=None) as batch_op:
        # Every meeting recorded so far counts, as it did.
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default='counted'))
        batch_op.add_column(sa.Column('evidence_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('no_evidence_reason', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('replaces_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('correction_note', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('confirmed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('struck_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('struck_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('strike_reason', sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint('uq_meetings_replaces_id', ['replaces_id'])
        batch_op.create_foreign_key(batch_op.f('fk_meetings_struck_by_id_people'), 'people', ['struck_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_meetings_confirmed_by_id_people'), 'people', ['confirmed_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_meetings_replaces_id_meetings'), 'meetings', ['replaces_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_meetings_evidence_id_rating_evidence'), 'rating_evidence', ['evidence_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(op.f('ck_meetings_status'), "status IN ('counted', 'pending', 'struck', 'corrected')")
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), server_default=None)

    with op.batch_alter_table('rating_evidence', schema=None) as batch_op:
        batch_op.alter_column('period_id',
               existing_type=sa.INTEGER(),
               nullable=True)

    with op.batch_alter_table('scorecards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_stars', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_grade', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('review_stars', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('review_grade', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('review_opinion', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('review_opinion_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('quota_exception', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('quota_exception_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_scorecards_claimed_stars'), 'claimed_stars BETWEEN 0 AND 5')
        batch_op.create_check_constraint(op.f('ck_scorecards_review_stars'), 'review_stars BETWEEN 0 AND 5')
    _meetings_are_not_edited()


#: A meeting record is never edited: what it says is changed by a correction (a new record)
#: and a record struck out or corrected stays so. (SQLite drops a table's triggers when a
#: batch migration rebuilds it: a later migration of `meetings` must create them again.)
MEETING_GUARD_SQLITE = [
    "CREATE TRIGGER meetings_no_edit BEFORE UPDATE OF org_id, kind, held_on, topic, attendance ON meetings "
    "WHEN OLD.org_id IS NOT NEW.org_id OR OLD.kind IS NOT NEW.kind OR OLD.held_on IS NOT NEW.held_on "
    "OR OLD.topic IS NOT NEW.topic OR OLD.attendance IS NOT NEW.attendance "
    "BEGIN SELECT RAISE(ABORT, 'a meeting record is corrected by a new record, never edited'); END",
    "CREATE TRIGGER meetings_final_status BEFORE UPDATE OF status ON meetings "
    "WHEN OLD.status IN ('struck', 'corrected') AND NEW.status IS NOT OLD.status "
    "BEGIN SELECT RAISE(ABORT, 'a meeting record struck out or corrected stays so'); END",
]
MEETING_GUARD_POSTGRESQL = [
    "CREATE FUNCTION meetings_no_edit() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'a meeting record is corrected by a new record, never edited'; END $$",
    "CREATE TRIGGER meetings_no_edit BEFORE UPDATE ON meetings FOR EACH ROW "
    "WHEN (OLD.org_id IS DISTINCT FROM NEW.org_id OR OLD.kind IS DISTINCT FROM NEW.kind "
    "OR OLD.held_on IS DISTINCT FROM NEW.held_on OR OLD.topic IS DISTINCT FROM NEW.topic "
    "OR OLD.attendance IS DISTINCT FROM NEW.attendance "
    "OR (OLD.status IN ('struck', 'corrected') AND NEW.status IS DISTINCT FROM OLD.status)) "
    "EXECUTE FUNCTION meetings_no_edit()",
]


def _meetings_are_not_edited():
    dialect = op.get_bind().dialect.name
    for statement in MEETING_GUARD_POSTGRESQL if dialect == "postgresql" else MEETING_GUARD_SQLITE:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER meetings_no_edit ON meetings")
        op.execute("DROP FUNCTION meetings_no_edit()")
    else:
        op.execute("DROP TRIGGER meetings_no_edit")
        op.execute("DROP TRIGGER meetings_final_status")
    with op.batch_alter_table('scorecards', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_scorecards_review_stars'), type_='check')
        batch_op.drop_constraint(op.f('ck_scorecards_claimed_stars'), type_='check')
        batch_op.drop_column('quota_exception_at')
        batch_op.drop_column('quota_exception')
        batch_op.drop_column('review_opinion_at')
        batch_op.drop_column('review_opinion')
        batch_op.drop_column('review_grade')
        batch_op.drop_column('review_stars')
        batch_op.drop_column('claimed_grade')
        batch_op.drop_column('claimed_stars')

    # Meetings' evidence belongs to no campaign and goes with the columns that named it.
    op.execute("UPDATE meetings SET evidence_id = NULL")
    op.execute("DELETE FROM rating_evidence WHERE period_id IS NULL")
    with op.batch_alter_table('rating_evidence', schema=None) as batch_op:
        batch_op.alter_column('period_id',
               existing_type=sa.INTEGER(),
               nullable=False)

    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_meetings_evidence_id_rating_evidence'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_meetings_replaces_id_meetings'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_meetings_confirmed_by_id_people'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_meetings_struck_by_id_people'), type_='foreignkey')
        batch_op.drop_constraint(op.f('ck_meetings_status'), type_='check')
        batch_op.drop_constraint('uq_meetings_replaces_id', type_='unique')
        batch_op.drop_column('strike_reason')
        batch_op.drop_column('struck_at')
        batch_op.drop_column('struck_by_id')
        batch_op.drop_column('confirmed_at')
        batch_op.drop_column('confirmed_by_id')
        batch_op.drop_column('correction_note')
        batch_op.drop_column('replaces_id')
        batch_op.drop_column('no_evidence_reason')
        batch_op.drop_column('evidence_id')
        batch_op.drop_column('status')

    with op.batch_alter_table('criterion_scores', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_criterion_scores_override_points'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_criterion_scores_override_by_id_people'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_criterion_scores_override_evidence_id_rating_evidence'), type_='foreignkey')
        batch_op.drop_column('override_at')
        batch_op.drop_column('override_by_id')
        batch_op.drop_column('override_evidence_id')
        batch_op.drop_column('override_evidence_url')
        batch_op.drop_column('override_note')
        batch_op.drop_column('override_basis')
        batch_op.drop_column('override_points')
        batch_op.drop_column('computed_points')

