#!/usr/bin/env bash
# Builds the Python package's wheel with maturin (release, in the workspace's target
# directory: an unchanged tree is not rebuilt) and installs it into the virtualenv VENV
# (which must hold maturin) when its content changed. Used by scripts/test-python.sh and
# bench/run.sh.   scripts/wheel.sh VENV
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(cd "$1" && pwd)
wheels="${CARGO_TARGET_DIR:-$PWD/target}/wheels"
rm -f "$wheels"/upsertx-*.whl
(cd python && "$venv/bin/maturin" build --release --quiet -o "$wheels") >&2
wheel=$(ls "$wheels"/upsertx-*.whl)
stamp="$venv/.upsertx-wheel.sha256"
sum=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "$sum" >"$stamp"
fi
