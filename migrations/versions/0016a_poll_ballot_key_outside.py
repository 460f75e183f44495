"""Polls: the ballot key leaves the database, answers get random ids, ballots and tallies lose
SQLite's rowid

Revision ID: 0016a
Revises: 0015c
"""
import secrets
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0016a'
down_revision = '0016b'
branch_labels = None
depends_on = None

POLLS = sa.table('polls', sa.column('id', sa.Integer), sa.column('secret', sa.String),
                 sa.column('legacy_secret', sa.String), sa.column('closes_at', sa.DateTime))
RESPONSE_COLUMNS = 'poll_id, mode, grid_id, network_hash, submitted_at, status, reviewed_by_id'
#: Below 2**53, as the models draw them.
ID_RANGE = 2**53 - 1


def _with_rowid(name, with_rowid):
    """Rebuild poll_ballots or poll_tallies with or without SQLite's rowid, rows in key order."""
    key = {'poll_ballots': ['poll_id', 'respondent_hash'],
           'poll_tallies': ['poll_id', 'question_id', 'grid_id', 'key']}[name]
    columns = {'poll_id': sa.Integer(), 'respondent_hash': sa.String(length=64), 'question_id': sa.Integer(),
               'grid_id': sa.Integer(), 'key': sa.String(length=16), 'count': sa.Integer()}
    names = key + (['count'] if name == 'poll_tallies' else [])
    op.create_table(
        f'_new_{name}', *[sa.Column(c, columns[c], nullable=False) for c in names],
        sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=f'fk_{name}_poll_id_polls', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint(*key, name=f'pk_{name}'), sqlite_with_rowid=with_rowid)
    listed = ', '.join(f'"{c}"' for c in names)
    ordered = ', '.join(f'"{c}"' for c in key)
    op.execute(f'INSERT INTO _new_{name} ({listed}) SELECT {listed} FROM {name} ORDER BY {ordered}')
    op.drop_table(name)
    op.rename_table(f'_new_{name}', name)


def _renumber(bind, new_ids):
    """Give every answer sheet and every answer the id `new_ids(old ids)` maps it to. New rows
    are written in the order of their new ids, so nothing follows the old order."""
    def each(sql, rows):
        if rows:   # executemany with no rows would run the statement once, unbound
            bind.execute(sa.text(sql), rows)

    old = bind.execute(sa.text('SELECT id FROM poll_responses')).scalars().all()
    moves = [{'new': n, 'old': o} for n, o in sorted(zip(new_ids(old), old))]
    each(f'INSERT INTO poll_responses (id, {RESPONSE_COLUMNS}) SELECT :new, {RESPONSE_COLUMNS} '
         'FROM poll_responses WHERE id = :old', moves)
    each('UPDATE poll_answers SET response_id = :new WHERE response_id = :old', moves)
    each('DELETE FROM poll_responses WHERE id = :old', [{'old': move['old']} for move in moves])
    old = bind.execute(sa.text('SELECT id FROM poll_answers')).scalars().all()
    each('UPDATE poll_answers SET id = :new WHERE id = :old',
         [{'new': n, 'old': o} for n, o in sorted(zip(new_ids(old), old))])


def _random_ids(old):
    """As many random ids as `old`, none of them among `old` (the rows not moved yet)."""
    taken, fresh = set(old), set()
    while len(fresh) < len(old):
        candidate = secrets.randbelow(ID_RANGE) + 1
        if candidate not in taken:
            fresh.add(candidate)
    return list(fresh)


def upgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    if sqlite:
        # What is deleted below (rows in the order they came) is zeroed, not left in free pages.
        op.execute('PRAGMA secure_delete = ON')
    # The ballot key now lives in the settings. A poll still open keeps its own secret until it
    # closes, or whoever answered it before the upgrade could answer again; a closed poll's
    # secret goes, and with it any way to tell from the database who answered.
    op.add_column('polls', sa.Column('legacy_secret', sa.String(length=64), nullable=True))
    op.add_column('polls', sa.Column('rewritten_at', sa.DateTime(), nullable=True))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.execute(POLLS.update().where(POLLS.c.closes_at > now).values(legacy_secret=POLLS.c.secret))
    # Plain ALTER TABLE: batch mode would rebuild polls on SQLite, and dropping the old table
    # would cascade to its questions and answers.
    with op.batch_alter_table('polls', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('secret')
    if sqlite:
        _with_rowid('poll_ballots', False)
        _with_rowid('poll_tallies', False)
    else:
        # 64-bit ids drawn at random instead of a sequence counting the answers.
        op.execute('ALTER TABLE poll_answers ALTER COLUMN response_id TYPE BIGINT')
        for table in ('poll_responses', 'poll_answers'):
            op.execute(f'ALTER TABLE {table} ALTER COLUMN id DROP DEFAULT, ALTER COLUMN id TYPE BIGINT')
            op.execute(f'DROP SEQUENCE {table}_id_seq')
    _renumber(bind, _random_ids)


def downgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    # Counted ids again, small enough for the 32-bit columns of PostgreSQL.
    _renumber(bind, lambda old: [max(old, default=0) + n for n in range(1, len(old) + 1)])
    _renumber(bind, lambda old: list(range(1, len(old) + 1)))
    if sqlite:
        _with_rowid('poll_ballots', True)
        _with_rowid('poll_tallies', True)
    else:
        for table in ('poll_responses', 'poll_answers'):
            op.execute(f'CREATE SEQUENCE {table}_id_seq OWNED BY {table}.id')
            op.execute(f"SELECT setval('{table}_id_seq', COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE INTEGER, "
                       f"ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
        op.execute('ALTER TABLE poll_answers ALTER COLUMN response_id TYPE INTEGER')
    # Every poll has its own secret in the database again: the one it kept, or a new one.
    if sqlite:
        op.execute("ALTER TABLE polls ADD COLUMN secret VARCHAR(64) NOT NULL DEFAULT ''")
    else:
        op.add_column('polls', sa.Column('secret', sa.String(length=64), nullable=True))
    for poll_id, kept in bind.execute(sa.select(POLLS.c.id, POLLS.c.legacy_secret)).all():
        op.execute(POLLS.update().where(POLLS.c.id == poll_id).values(secret=kept or secrets.token_hex(32)))
    if not sqlite:
        op.alter_column('polls', 'secret', nullable=False)
    with op.batch_alter_table('polls', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('rewritten_at')
        batch_op.drop_column('legacy_secret')
