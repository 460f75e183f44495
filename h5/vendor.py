"""Serves third-party front-end files installed by `npm ci` (never committed, never a CDN)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__)

#: URL name → folder inside node_modules. Only these are exposed.
PACKAGES = {
    "weui": "weui/dist/style",
    "swagger-ui": "swagger-ui-dist",
}


@bp.get("/vendor/<package>/<path:filename>")
def asset(package: str, filename: str):
    if package not in PACKAGES or filename.endswith(".map"):
        abort(404)
    folder = Path(current_app.config["NODE_MODULES_DIR"]) / PACKAGES[package]
    response = send_from_directory(folder, filename, max_age=7 * 24 * 3600)
    # Read the file instead of streaming it: Flask-Compress then offers gzip too (it cannot
    # gzip a stream) and honours If-None-Match against its ":br" ETag, so a phone whose
    # 7-day copy expired gets a 304 instead of WeUI again.
    response.make_sequence()
    return response
