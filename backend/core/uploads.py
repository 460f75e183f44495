"""Views that take a file: the request body may then exceed MAX_CONTENT_LENGTH (kept small
for JSON and forms) up to the file limit the view names."""

from __future__ import annotations

from flask import current_app, request

#: Room for the form fields sent with the file.
FORM_ALLOWANCE = 64 * 1024


def accepts_upload(limit_key: str):
    """Mark a view whose body may carry a file of up to config[limit_key] bytes."""
    def mark(view):
        view.upload_limit_key = limit_key
        return view
    return mark


def widen_limit() -> None:
    """before_request, ahead of anything that reads the body (the CSRF check reads the form)."""
    view = current_app.view_functions.get(request.endpoint)
    key = getattr(view, "upload_limit_key", None)
    if key is not None:
        request.max_content_length = current_app.config[key] + FORM_ALLOWANCE
