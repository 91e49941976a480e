#!/usr/bin/env bash
# System packages the test suite uses beyond Python: headless Chromium, for tests/report/test_browser.py, which
# opens real reports of every family and saves screenshots to test-output/screenshots/.
# It is installed only when missing, and only where we can (root with apt-get); it says what it installs
# before doing so. Where it cannot, the browser test skips with that reason (pytest -ra lists it).
# PROBWB_NO_APT=1 turns the install off (the browser test then skips when Chromium is absent).
set -u
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "test-deps: headless browser for the report test: $(command -v "$name")"
    exit 0
  fi
done
why="the report browser test (tests/report/test_browser.py) will be skipped"
if [ "${PROBWB_NO_APT:-0}" = "1" ]; then
  echo "test-deps: Chromium is not installed and PROBWB_NO_APT=1: $why"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: Chromium is not installed and this is not root with apt-get: $why"
  echo "test-deps: to run it, install Chromium yourself (e.g. sudo apt-get install chromium)"
  exit 0
fi
echo "test-deps: installing the Debian package 'chromium' with apt-get (about 350 MB on disk, one time),"
echo "test-deps: for the headless browser check of reports; set PROBWB_NO_APT=1 to skip this install"
if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then
  echo "test-deps: installed $(command -v chromium)"
else
  echo "test-deps: warning: could not install chromium: $why"
fi
exit 0
