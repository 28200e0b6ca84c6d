#!/bin/sh
# A screenshot of an HTML report in headless Chromium: how the report is checked by eye (the
# committed docs/validate_report.png comes from here). Needs chromium (Debian: apt-get install
# chromium); not part of the test suite, so a machine without it still runs every test.
#
#   scripts/report_screenshot.sh out/lenet/validate.html docs/validate_report.png [WIDTHxHEIGHT]
set -eu
html=$1
png=$2
size=${3:-1200,2600}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "error: no chromium found; install it (Debian: apt-get install chromium) and run again" >&2
  exit 2
fi
# --no-sandbox: Chromium refuses to start its sandbox as root (containers, CI)
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$size" \
  --screenshot="$(realpath -m "$png")" "file://$(realpath "$html")" 2>/dev/null
test -s "$png" && echo "wrote $png"
