#!/usr/bin/env bash
# Open an experiment report in headless Chromium: the page must load, the DOM Chromium builds
# must hold every table and inline SVG figure of the file, and a full-page screenshot is written
# next to it for a look. Needs Debian's chromium (apt-get install chromium).
#   docs/check_report.sh strongid-demo/report.html
set -euo pipefail
REPORT=$(realpath "${1:?usage: docs/check_report.sh REPORT.html}")
SHOT="${REPORT%.html}.png"
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)")
dom=$(chromium "${FLAGS[@]}" --dump-dom "file://$REPORT" 2>/dev/null)
want_tables=$(grep -o '<table' "$REPORT" | wc -l)
want_svgs=$(grep -o '<svg' "$REPORT" | wc -l)
got_tables=$(grep -o '<table' <<< "$dom" | wc -l)
got_svgs=$(grep -o '<svg' <<< "$dom" | wc -l)
chromium "${FLAGS[@]}" --window-size=1400,12000 --screenshot="$SHOT" "file://$REPORT" 2>/dev/null
echo "tables: $got_tables rendered of $want_tables; SVG figures: $got_svgs rendered of $want_svgs; screenshot: $SHOT"
[ "$got_tables" -eq "$want_tables" ] && [ "$got_svgs" -eq "$want_svgs" ] && [ "$want_svgs" -gt 0 ] && [ -s "$SHOT" ]
