#!/usr/bin/env bash
# Tools the test command needs besides the Python packages: promtool (checks
# deploy/alerts.yml). Taken from Debian's `prometheus` package without installing it (no
# server, no service started): the package is downloaded and only promtool is unpacked
# into .venv/bin. kubectl (kustomize) and the schema checkers come from requirements-dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/promtool ] && exit 0
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "promtool missing: install Debian's prometheus package, or copy promtool to .venv/bin" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's download user must be able to write there
( cd "$work" && { apt-get download -q prometheus >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get download -q prometheus >/dev/null 2>&1; }; } ) \
  || { echo "could not download Debian's prometheus package (for promtool)" >&2; exit 1; }
dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
install -m 755 "$work/x/usr/bin/promtool" .venv/bin/promtool
.venv/bin/promtool --version 2>&1 | head -1
