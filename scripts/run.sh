#!/usr/bin/env bash
# Serve the app (gunicorn, gthread workers) and the one scheduler process; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

bind="${BIND:-127.0.0.1:5000}"

.venv/bin/python -m jobs &
jobs_pid=$!
trap 'kill "$jobs_pid" 2>/dev/null || true; wait "$jobs_pid" 2>/dev/null || true' EXIT INT TERM

# The address gunicorn is given below, so what is printed is what is served.
case "$bind" in
  unix:*) echo "Sanwei is serving on $bind (Ctrl-C stops it)" ;;
  *)      echo "Sanwei is serving on http://$bind/h5/ (Ctrl-C stops it)" ;;
esac
.venv/bin/gunicorn --config gunicorn.conf.py --bind "$bind" wsgi:app
