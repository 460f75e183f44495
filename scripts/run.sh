#!/usr/bin/env bash
# Serve the app (gunicorn, gthread workers) and the one scheduler process; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python -m jobs &
jobs_pid=$!
trap 'kill "$jobs_pid" 2>/dev/null || true; wait "$jobs_pid" 2>/dev/null || true' EXIT INT TERM

echo "Sanwei is serving on http://127.0.0.1:5000/h5/ (Ctrl-C stops it)"
.venv/bin/gunicorn --config gunicorn.conf.py --bind "${BIND:-127.0.0.1:5000}" wsgi:app
