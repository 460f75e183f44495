"""The short URL printed in every QR code."""

from __future__ import annotations

from flask import Blueprint, redirect

from backend.qrcodes import service

bp = Blueprint("qr_public", __name__)


@bp.get("/q/<code>")
def scan(code: str):
    """Open the page the code is for; friendly 404/410 pages for unknown or revoked codes."""
    qr = service.resolve(code)
    response = redirect(service.landing_url(qr), code=302)
    response.headers["Cache-Control"] = "no-store"
    return response
