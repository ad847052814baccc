#!/usr/bin/env bash
# The test suite (what CI runs): the Rust tests (with the guide's command blocks, its CLI
# reference and its links: tests/docs.rs), then the Python package built from this checkout
# (`pip install .` into target/py-venv; the wheel build reuses the Rust build's dependencies) and
# its tests (with the guide's Python blocks and API reference: python/tests/test_docs.py), which
# also drive the binary the Rust tests built; then the guide's build, which must print no warning.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --release
VENV=target/py-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check ".[test]"
"$VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider
docs/build.sh
