#!/usr/bin/env bash
# Runs every test: unit, integration (real RabbitMQ and PostgreSQL) and end to end
# (the four services as processes). Each run gets its own vhost and database.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/servers.sh
scripts/browser.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -p no:pytest_nameko -q "$@"
