"""Files people upload (rating evidence, wish photos): stored once by content (SHA-256) under
EVIDENCE_DIR, written beside their place and renamed so a reader never sees half a file. The
type is read from the file's first bytes, never from what the phone claims."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from backend.core.errors import Invalid

#: Leading bytes → (content type, extension). JPEG and PNG are what phones and WeChat send,
#: WebP what some Android cameras save, PDF what scanners produce.
SIGNATURES = ((b"\xff\xd8\xff", ("image/jpeg", "jpg")), (b"\x89PNG\r\n\x1a\n", ("image/png", "png")),
              (b"%PDF-", ("application/pdf", "pdf")))
IMAGES = frozenset({"image/jpeg", "image/png", "image/webp"})


@dataclass
class Received:
    """An upload checked and held in memory until `keep` writes it."""

    data: bytes
    sha256: str
    content_type: str
    extension: str


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from a file's first 16 bytes; None for anything not accepted."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return next((kind for magic, kind in SIGNATURES if head.startswith(magic)), None)


def clean_name(name: str | None, ext: str, default: str) -> str:
    """The phone's file name for showing and saving: no path, no control characters, and
    the extension of what the file really is."""
    stem = re.sub(r"[\x00-\x1f\x7f/\\]", "", Path(name or "").stem).strip() or default
    return f"{stem[:110]}.{ext}"


def receive(upload: FileStorage, limit: int, field_name: str, *, accepted: str,
            types: frozenset[str] | None = None, code: str = "evidence") -> Received:
    """Read and check one upload: not empty, at most `limit` bytes, of a sniffed type (among
    `types` when given). Errors name `field_name` and say what is `accepted`; their codes start
    with `code`."""
    data = upload.stream.read(limit + 1)
    if not data:
        raise Invalid("请选择文件", code=f"{code}_empty", fields={field_name: ["请选择文件"]})
    if len(data) > limit:
        message = f"文件不能超过 {limit // (1024 * 1024)} MB"
        raise Invalid(message, code=f"{code}_too_large", fields={field_name: [message]})
    kind = sniff(data[:16])
    if kind is None or (types is not None and kind[0] not in types):
        message = f"只能上传{accepted}"
        raise Invalid(message, code=f"{code}_type", fields={field_name: [message]})
    return Received(data, hashlib.sha256(data).hexdigest(), *kind)


def path_for(sha256: str, extension: str, area: str = "") -> Path:
    """Where a file lives; each `area` (a domain's folder) deletes its own files without
    asking the others whether they hold the same content."""
    root = Path(current_app.config["EVIDENCE_DIR"])
    return (root / area if area else root) / sha256[:2] / f"{sha256}.{extension}"


def keep(sha256: str, extension: str, data: bytes, area: str = "") -> Path:
    """Write the bytes once per content, just before the commit."""
    target = path_for(sha256, extension, area)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    return target


#: A file younger than this may belong to a transaction that has not committed yet.
ORPHAN_GRACE = timedelta(days=1)
#: Hashes asked about per query.
_SWEEP_BATCH = 500


def _stored(area: str, older_than: float) -> Iterator[Path]:
    """The files of `area` last written before `older_than` (a timestamp). The evidence area is
    the store's root, whose other folders are areas of their own: only the two-hex-digit
    folders files are spread over are looked into."""
    root = path_for("0" * 64, "x", area).parent.parent
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if len(folder.name) != 2 or not folder.is_dir():
            continue
        for file in folder.iterdir():
            if not file.name.startswith(".") and file.stat().st_mtime < older_than:
                yield file


def sweep_orphans(area: str, held: Callable[[list[str]], set[str]]) -> int:
    """Remove the files of `area` older than ORPHAN_GRACE whose content hash no row holds
    (`held` answers which of some hashes are held); how many went."""
    older_than = time.time() - ORPHAN_GRACE.total_seconds()
    removed = 0
    files = list(_stored(area, older_than))
    for start in range(0, len(files), _SWEEP_BATCH):
        batch = {file.stem: file for file in files[start:start + _SWEEP_BATCH]}
        kept = held(list(batch))
        for sha256, file in batch.items():
            if sha256 not in kept:
                file.unlink(missing_ok=True)
                removed += 1
    return removed
