"""The bare baseline of `make bench`: a Flask app with nothing in it but a few trivial routes,
served by gunicorn with the product's own gunicorn.conf.py, so that the product's figures are
read against what this machine, Python, Flask and gunicorn allow.

    gunicorn --config gunicorn.conf.py bench.bare_app:app
"""

from __future__ import annotations

import itertools

from flask import Flask, jsonify, request

app = Flask(__name__)
_numbers = itertools.count(1)

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>任务</title></head>
<body><h1>我的任务</h1><ul>{items}</ul></body></html>"""


@app.get("/json")
def json_list():
    """A small list, as a list endpoint of the API answers."""
    return jsonify(items=[{"id": i, "title": f"活动 {i}", "status": "open"} for i in range(10)], total=10)


@app.get("/html")
def html_page():
    """A small page, as an H5 page is."""
    return PAGE.format(items="".join(f"<li>心愿 {i}</li>" for i in range(10)))


@app.post("/post")
def accept():
    """Take a JSON body and answer 201 with an id, as a write of the API does."""
    body = request.get_json(silent=True) or {}
    return jsonify(id=next(_numbers), received=len(body)), 201
