#!/usr/bin/env bash
# Build the user guide (docs/src, mdBook) into target/book; open target/book/index.html.
# Installs mdBook into target/tools when it is not on PATH (a pinned version, --locked). A
# warning fails the build: mdBook's own (a missing page, a broken include) are errors here.
set -euo pipefail
cd "$(dirname "$0")/.."
MDBOOK_VERSION=0.5.4
MDBOOK=$(command -v mdbook || true)
if [ -z "$MDBOOK" ] || ! "$MDBOOK" --version | grep -q "v$MDBOOK_VERSION"; then
  MDBOOK=target/tools/bin/mdbook
  [ -x "$MDBOOK" ] || cargo install mdbook --version "$MDBOOK_VERSION" --locked --quiet --root target/tools
fi
log=$("$MDBOOK" build docs 2>&1) || { echo "$log"; exit 1; }
if grep -Ei "warn|error" <<<"$log"; then
  echo "docs/build.sh: mdBook printed warnings (above)"; exit 1
fi
echo "guide: target/book/index.html"
