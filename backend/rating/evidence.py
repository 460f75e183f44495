"""Evidence files (佐证材料) behind a score or a meeting record: a photo of the minutes, a
scanned document. Stored by backend.core.filestore, the hash written into the campaign ledger
with the score, so a file swapped on disk no longer matches the record."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import FileStorage

from backend.core import filestore
from backend.core.permissions import Actor
from backend.extensions import db, utcnow
from backend.rating.models import Evidence, Scorecard

ACCEPTED = "照片（JPG、PNG、WebP）或 PDF"
#: An upload no score took up within this long is removed (with its file, if no other
#: upload has the same content).
UNUSED_DAYS = 2


def path_of(evidence: Evidence) -> Path:
    return filestore.path_for(evidence.sha256, evidence.extension)


def receive(actor: Actor, card: Scorecard, upload: FileStorage, field_name: str = "file") -> Evidence:
    """Check an upload for a score and record it; the bytes wait on the row until `keep`
    writes them, so a score refused after this point leaves no file behind."""
    return receive_for(actor, card.period_id, card.org_id, upload, field_name)


def receive_for(actor: Actor, period_id: int | None, org_id: int, upload: FileStorage,
                field_name: str = "file") -> Evidence:
    """`receive` for a campaign's org, or for an org's meeting records (no campaign)."""
    received = filestore.receive(upload, current_app.config["EVIDENCE_MAX_BYTES"], field_name, accepted=ACCEPTED)
    evidence = Evidence(period_id=period_id, org_id=org_id, sha256=received.sha256, extension=received.extension,
                        content_type=received.content_type, size=len(received.data),
                        filename=filestore.clean_name(upload.filename, received.extension, "佐证材料"),
                        uploaded_by_id=actor.person_id)
    evidence.data = received.data
    db.session.add(evidence)
    db.session.flush()
    return evidence


def keep(evidence: Evidence) -> Evidence:
    """Write the received bytes (once per content), just before the commit."""
    filestore.keep(evidence.sha256, evidence.extension, evidence.data)
    return evidence


def sweep_unused() -> int:
    """Uploads never attached to a score after UNUSED_DAYS: the record goes, and the file
    unless another record has the same content. Attached ones stay for good (the ledger
    holds their hash)."""
    cutoff = utcnow() - timedelta(days=UNUSED_DAYS)
    stale = db.session.scalars(sa.select(Evidence).where(Evidence.attached_at.is_(None),
                                                         Evidence.created_at < cutoff)).all()
    for evidence in stale:
        db.session.delete(evidence)
    db.session.flush()
    for evidence in stale:
        others = db.session.scalar(sa.select(sa.func.count()).select_from(Evidence).where(
            Evidence.sha256 == evidence.sha256))
        if not others:
            path_of(evidence).unlink(missing_ok=True)
    return len(stale)


def sweep_orphan_files() -> int:
    """Evidence files no upload record holds: written just before a commit that then failed,
    or left by a process that died in between (files of the last day are left alone)."""
    return filestore.sweep_orphans("", lambda hashes: set(db.session.scalars(
        sa.select(Evidence.sha256).where(Evidence.sha256.in_(hashes)))))
