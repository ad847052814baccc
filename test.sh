#!/usr/bin/env bash
# The test suite (what CI runs): the Rust tests, then the Python package built from this checkout
# (`pip install .` into target/py-venv; the wheel build reuses the Rust build's dependencies) and
# its tests, which also drive the binary the Rust tests built.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --release
VENV=target/py-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check ".[test]"
"$VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider
