#!/usr/bin/env bash
# System packages the test suite uses beyond Python: headless Chromium for the browser check of reports.
# Installed only when missing and when we can (root, apt); tests that need it skip with a reason otherwise.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report browser test (one time)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
fi
exit 0
