#!/usr/bin/env bash
# The page tests drive Debian's chromium (Playwright cannot download its own browser here).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    echo "the page tests need /usr/bin/chromium: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi
