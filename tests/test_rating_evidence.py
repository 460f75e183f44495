"""Evidence files behind manual scores: uploaded by whoever may score now, typed by their
first bytes, capped in size, kept once by SHA-256 with the hash in the ledger, and shown
only to those who see the scorecard."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from backend.extensions import db, utcnow
from backend.rating import evidence
from backend.rating.models import Evidence
from tests import test_rating
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_rating import card_url, start

world = test_rating.world


def photo(color: str = "red") -> bytes:
    """A real (small) JPEG, as a phone would send."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


def files(app) -> list[Path]:
    return [p for p in Path(app.config["EVIDENCE_DIR"]).rglob("*") if p.is_file()]


def upload(client, headers, period, org, data: bytes, name: str = "会议纪要.jpg"):
    return client.post(f"{card_url(period, org)}/evidence", headers=headers,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_evidence_goes_into_the_ledger_and_only_to_those_who_see_the_card(client, world):
    orgs, _, headers = world
    period = start(client, world)
    data = photo()
    made = upload(client, headers["sec_a"], period, orgs["a"], data)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["content_type"] == "image/jpeg"
    assert body["filename"] == "会议纪要.jpg" and body["size"] == len(data)
    scored = client.put(f"{card_url(period, orgs['a'])}/criteria/G1", headers=headers["sec_a"],
                        json={"points": 5, "note": "架构图见附件", "evidence_id": body["id"]})
    assert scored.status_code == 200
    g1 = next(c for c in scored.get_json()["criteria"] if c["code"] == "G1")
    assert g1["evidence"]["url"] == f"/api/v1/evidence/{body['id']}"
    ledger = client.get(f"/api/v1/periods/{period['id']}/ledger", headers=headers["officer"]).get_json()
    assert ledger[-1]["data"]["evidence"] == {"id": body["id"], "sha256": body["sha256"], "filename": "会议纪要.jpg"}

    shown = client.get(g1["evidence"]["url"], headers=headers["officer"])
    assert shown.status_code == 200 and shown.data == data and shown.mimetype == "image/jpeg"
    assert shown.headers["Content-Security-Policy"] == "sandbox"
    assert "private" in shown.headers["Cache-Control"]
    assert client.get(g1["evidence"]["url"], headers=headers["sec_b"]).status_code == 404
    assert client.get(g1["evidence"]["url"], headers=headers["leader"]).status_code == 404
    # The same file twice is one file on disk, two records.
    again = upload(client, headers["sec_a"], period, orgs["a"], data, "again.jpg").get_json()
    assert again["sha256"] == body["sha256"] and again["id"] != body["id"]


def test_evidence_refusals(app, client, world):
    orgs, _, headers = world
    period = start(client, world)
    text = upload(client, headers["sec_a"], period, orgs["a"], b"just some text pretending", "fake.jpg")
    assert text.status_code == 422 and text.get_json()["error"]["code"] == "evidence_type"
    assert "file" in text.get_json()["error"]["fields"]
    empty = upload(client, headers["sec_a"], period, orgs["a"], b"", "empty.jpg")
    assert empty.status_code == 422 and empty.get_json()["error"]["code"] == "evidence_empty"
    app.config["EVIDENCE_MAX_BYTES"] = 500
    big = upload(client, headers["sec_a"], period, orgs["a"], photo() + b"\0" * 600)
    assert big.status_code == 422 and big.get_json()["error"]["code"] == "evidence_too_large"
    huge = upload(client, headers["sec_a"], period, orgs["a"], b"\xff\xd8\xff" + b"\0" * (200 * 1024))
    assert huge.status_code == 413
    app.config["EVIDENCE_MAX_BYTES"] = 10 * 1024 * 1024
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0

    theirs = upload(client, headers["sec_b"], period, orgs["b"], photo("blue")).get_json()
    borrowed = client.put(f"{card_url(period, orgs['a'])}/criteria/G1", headers=headers["sec_a"],
                          json={"points": 5, "note": "借用别人的材料", "evidence_id": theirs["id"]})
    assert borrowed.status_code == 422 and borrowed.get_json()["error"]["code"] == "unknown_evidence"
    assert upload(client, headers["sec_b"], period, orgs["a"], photo()).status_code == 404

    client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                json={"from": "self_evaluation", "to": "review"})
    assert upload(client, headers["sec_a"], period, orgs["a"], photo()).status_code == 403
    assert upload(client, headers["officer"], period, orgs["a"], photo()).status_code == 201


def test_criterion_page_takes_a_photo_and_keeps_it_on_the_next_save(app, client, world):
    orgs, _, _ = world
    period = start(client, world)
    secretary = app.test_client()
    h5_login(secretary, "sec_a")
    url = f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}/criteria/G1"
    token = csrf_from(secretary.get(url))
    refused = secretary.post(url, content_type="multipart/form-data", data={
        "csrf_token": token, "points": "5", "note": "", "evidence_file": (io.BytesIO(photo("olive")), "纪要.jpg")})
    assert refused.status_code == 422 and "请重新选择文件" in refused.get_data(as_text=True)
    too_many = secretary.post(url, content_type="multipart/form-data", data={
        "csrf_token": token, "points": "9", "note": "分数超出",
        "evidence_file": (io.BytesIO(photo("teal")), "纪要.jpg")})
    assert too_many.status_code == 422
    # Refused scores leave neither a record nor a file.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0
    refused_hashes = {hashlib.sha256(photo(color)).hexdigest() for color in ("olive", "teal")}
    assert not [p for p in files(app) if p.stem in refused_hashes]
    saved = secretary.post(url, content_type="multipart/form-data", data={
        "csrf_token": token, "points": "5", "note": "架构图见照片", "evidence_file": (io.BytesIO(photo()), "纪要.jpg")})
    assert saved.status_code == 302
    page = secretary.get(f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}").get_data(as_text=True)
    stored = db.session.scalar(sa.select(Evidence))
    assert f"/api/v1/evidence/{stored.id}" in page and "纪要.jpg" in page
    assert secretary.get(f"/api/v1/evidence/{stored.id}").status_code == 200   # the session cookie is enough
    # Saving again without a new file keeps the photo; ticking 删除 drops it.
    assert secretary.post(url, data={"csrf_token": token, "points": "4", "note": "改为 4 分"}).status_code == 302
    card = client.get(card_url(period, orgs["a"]), headers=world[2]["officer"]).get_json()
    assert next(c for c in card["criteria"] if c["code"] == "G1")["evidence"]["id"] == stored.id
    secretary.post(url, data={"csrf_token": token, "points": "4", "note": "材料作废", "drop_evidence": "1"})
    card = client.get(card_url(period, orgs["a"]), headers=world[2]["officer"]).get_json()
    assert next(c for c in card["criteria"] if c["code"] == "G1")["evidence"] is None


def test_pdf_names_missing_files_and_the_sweep(app, client, world):
    orgs, _, headers = world
    period = start(client, world)
    pdf = b"%PDF-1.4\n% evidence " + bytes(range(256)) * 4
    made = upload(client, headers["sec_a"], period, orgs["a"], pdf, "扫描件.html").get_json()
    assert made["content_type"] == "application/pdf" and made["filename"] == "扫描件.pdf"
    shown = client.get(f"/api/v1/evidence/{made['id']}", headers=headers["sec_a"])
    assert shown.mimetype == "application/pdf" and "Content-Security-Policy" not in shown.headers
    assert shown.headers["X-Content-Type-Options"] == "nosniff"

    attached = upload(client, headers["sec_a"], period, orgs["a"], photo("navy")).get_json()
    client.put(f"{card_url(period, orgs['a'])}/criteria/G2", headers=headers["sec_a"],
               json={"points": 2, "note": "见照片", "evidence_id": attached["id"]})
    for row in db.session.scalars(sa.select(Evidence)):
        row.created_at = utcnow() - timedelta(days=evidence.UNUSED_DAYS + 1)
    db.session.commit()
    with app.app_context():
        assert evidence.sweep_unused() == 1
        db.session.commit()
    assert [e.id for e in db.session.scalars(sa.select(Evidence))] == [attached["id"]]
    names = {p.name for p in files(app)}
    assert f"{attached['sha256']}.jpg" in names and f"{made['sha256']}.pdf" not in names

    stored = db.session.get(Evidence, attached["id"])
    with app.app_context():
        evidence.path_of(stored).unlink()
    lost = client.get(f"/api/v1/evidence/{attached['id']}", headers=headers["sec_a"])
    assert lost.status_code == 404 and lost.get_json()["error"]["code"] == "evidence_missing"


def test_a_read_scorecard_answers_as_the_written_one_with_evidence_and_override(client, world):
    """GET reads the criteria as columns beside their files; a write answers with the ORM
    objects it changed. Both say the same of the same card: scores, files, the override."""
    orgs, _, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    mine = upload(client, headers["sec_a"], period, orgs["a"], photo()).get_json()
    assert client.put(f"{url}/criteria/G1", headers=headers["sec_a"],
                      json={"points": 4, "note": "架构图见附件", "evidence_id": mine["id"]}).status_code == 200
    client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                json={"from": "self_evaluation", "to": "review"})
    checked = upload(client, headers["officer"], period, orgs["a"], photo("blue"), "核查.jpg").get_json()
    written = client.put(f"{url}/criteria/G1/override", headers=headers["officer"],
                         json={"points": 2, "note": "实地核查不实", "evidence_id": checked["id"]})
    assert written.status_code == 200, written.get_json()
    read = client.get(url, headers=headers["officer"]).get_json()
    assert read == written.get_json()
    g1 = next(c for c in read["criteria"] if c["code"] == "G1")
    assert (g1["evidence"]["id"], g1["override"]["evidence"]["id"]) == (mine["id"], checked["id"])
    assert g1["override"]["evidence"]["filename"] == "核查.jpg" and g1["points"] == 2
    assert any(c["evidence"] is None and c["override"] is None for c in read["criteria"])
