#!/usr/bin/env bash
# Builds the pages' front-end assets from the pinned npm packages (package-lock.json):
# the GOV.UK Design System's compiled CSS, JS, fonts and images into
# services/gateway/static/govuk (served at /assets/), and axe-core for the page tests.
# Reinstalls only when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "the pages need Node.js and npm (apt-get install -y nodejs npm)" >&2; exit 1; }
stamp=node_modules/.lock.sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -d node_modules/govuk-frontend ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi
src=node_modules/govuk-frontend/dist/govuk
out=services/gateway/static/govuk
if [ ! -f "$out/.version" ] || [ "$(cat "$out/.version")" != "$want" ]; then
  rm -rf "$out"
  mkdir -p "$out"
  cp "$src/govuk-frontend.min.css" "$src/govuk-frontend.min.js" "$out/"
  cp -r "$src/assets/fonts" "$src/assets/images" "$src/assets/manifest.json" "$out/"
  echo "$want" > "$out/.version"
fi
