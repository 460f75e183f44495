"""Evidence files (佐证材料) behind a score or a meeting record: a photo of the minutes, a
scanned document. Stored once by content (SHA-256) under EVIDENCE_DIR, the hash written into the
campaign ledger with the score, so a file swapped on disk no longer matches the record.
The type is read from the file's first bytes, never from what the phone claims."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import FileStorage

from backend.core.errors import Invalid
from backend.core.permissions import Actor
from backend.extensions import db, utcnow
from backend.rating.models import Evidence, Scorecard

#: Leading bytes → (content type, extension). JPEG and PNG are what phones and WeChat send,
#: WebP what some Android cameras save, PDF what scanners produce.
SIGNATURES = ((b"\xff\xd8\xff", ("image/jpeg", "jpg")), (b"\x89PNG\r\n\x1a\n", ("image/png", "png")),
              (b"%PDF-", ("application/pdf", "pdf")))
ACCEPTED = "照片（JPG、PNG、WebP）或 PDF"
#: An upload no score took up within this long is removed (with its file, if no other
#: upload has the same content).
UNUSED_DAYS = 2


def _sniff(head: bytes) -> tuple[str, str] | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return next((kind for magic, kind in SIGNATURES if head.startswith(magic)), None)


def _clean_name(name: str | None, ext: str) -> str:
    """The phone's file name for showing and saving: no path, no control characters, and
    the extension of what the file really is."""
    stem = re.sub(r"[\x00-\x1f\x7f/\\]", "", Path(name or "").stem).strip() or "佐证材料"
    return f"{stem[:110]}.{ext}"


def path_of(evidence: Evidence) -> Path:
    root = Path(current_app.config["EVIDENCE_DIR"])
    return root / evidence.sha256[:2] / f"{evidence.sha256}.{evidence.extension}"


def receive(actor: Actor, card: Scorecard, upload: FileStorage, field_name: str = "file") -> Evidence:
    """Check an upload for a score and record it; the bytes wait on the row until `keep`
    writes them, so a score refused after this point leaves no file behind."""
    return receive_for(actor, card.period_id, card.org_id, upload, field_name)


def receive_for(actor: Actor, period_id: int | None, org_id: int, upload: FileStorage,
                field_name: str = "file") -> Evidence:
    """`receive` for a campaign's org, or for an org's meeting records (no campaign)."""
    limit = current_app.config["EVIDENCE_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if not data:
        raise Invalid("请选择文件", code="evidence_empty", fields={field_name: ["请选择文件"]})
    if len(data) > limit:
        message = f"文件不能超过 {limit // (1024 * 1024)} MB"
        raise Invalid(message, code="evidence_too_large", fields={field_name: [message]})
    kind = _sniff(data[:16])
    if kind is None:
        message = f"只能上传{ACCEPTED}"
        raise Invalid(message, code="evidence_type", fields={field_name: [message]})
    content_type, ext = kind
    evidence = Evidence(period_id=period_id, org_id=org_id, sha256=hashlib.sha256(data).hexdigest(),
                        extension=ext, content_type=content_type, size=len(data),
                        filename=_clean_name(upload.filename, ext), uploaded_by_id=actor.person.id)
    evidence.data = data
    db.session.add(evidence)
    db.session.flush()
    return evidence


def keep(evidence: Evidence) -> Evidence:
    """Write the received bytes (once per content), just before the commit."""
    target = path_of(evidence)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed, so a reader never sees half a file.
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            out.write(evidence.data)
        os.replace(temporary, target)
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
