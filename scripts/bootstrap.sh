#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs the pinned dependencies when they changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "EHCP Tracker needs Python 3.11 (found: $("$PY" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v -i warning || true
  .venv/bin/python -m pip install -q -r requirements-dev.txt 2>&1 | grep -v -i warning || true
  .venv/bin/python -m pip install -q --no-deps -e . 2>&1 | grep -v -i -e warning -e '!!' -e wheel_obj || true
  .venv/bin/python -c 'import nameko, psycopg, kombu, marshmallow' || { echo "dependency install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
scripts/assets.sh
scripts/tools.sh
