#!/usr/bin/env bash
# Open every page of the built guide (docs/build.sh → target/book) in headless Chromium: each
# must load offline, with the sidebar's table of contents built by its script and every table
# and image of the page in the DOM; a screenshot of the first page is written for a look.
# Needs Debian's chromium (apt-get install chromium).
#   docs/check_book.sh [target/book]
set -euo pipefail
BOOK=$(realpath "${1:-target/book}")
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)")
count() { { grep -o "$1" || true; } | wc -l; }   # occurrences of $1 on stdin (0 is not an error)
pages=0; bad=0
while IFS= read -r page; do
  dom=$(chromium "${FLAGS[@]}" --virtual-time-budget=2000 --dump-dom "file://$page" 2>/dev/null)
  want_tables=$(count '<table' <"$page"); got_tables=$(count '<table' <<<"$dom")
  want_imgs=$(count '<img' <"$page"); got_imgs=$(count '<img' <<<"$dom")
  if ! grep -q 'class="chapter' <<<"$dom" || [ "$got_tables" -ne "$want_tables" ] || [ "$got_imgs" -lt "$want_imgs" ]; then
    echo "FAIL ${page#$BOOK/}: tables $got_tables of $want_tables, images $got_imgs of $want_imgs, toc $(count 'class="chapter' <<<"$dom")"
    bad=$((bad + 1))
  fi
  pages=$((pages + 1))
done < <(find "$BOOK" -name '*.html' ! -name 'print.html' ! -name '404.html' ! -name 'toc.html' | sort)
chromium "${FLAGS[@]}" --window-size=1400,2400 --screenshot="$BOOK/index.png" "file://$BOOK/index.html" 2>/dev/null
echo "$pages pages opened, $bad failed; screenshot: $BOOK/index.png"
[ "$bad" -eq 0 ] && [ "$pages" -gt 10 ] && [ -s "$BOOK/index.png" ]
