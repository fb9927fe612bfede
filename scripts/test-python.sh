#!/usr/bin/env bash
# The Python package's tests, as a user gets the package: a wheel built by maturin
# (release, in the workspace's target directory, so an unchanged tree is not rebuilt),
# installed into a virtualenv of its own (python/.venv, from PyPI), then pytest against
# the same real databases as the Rust tests. Called by scripts/test.sh, which makes the
# databases ready first; on its own: scripts/test-python.sh [pytest arguments].
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'scripts/test-python.sh: %s\n' "$*" >&2; exit 1; }

VENV=python/.venv
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r python/tests/requirements.txt \
  || die "installing the test requirements from PyPI failed"

say "building the Python wheel (maturin, release)"
wheels="${CARGO_TARGET_DIR:-$PWD/target}/wheels"
rm -f "$wheels"/upsertx-*.whl
(cd python && "../$VENV/bin/maturin" build --release --quiet -o "$wheels") || die "maturin build failed"
wheel=$(ls "$wheels"/upsertx-*.whl)
# Reinstalled only when the wheel's content changed.
stamp="$VENV/.upsertx-wheel.sha256"
sum=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "$sum" >"$stamp"
fi

say "Python tests (pytest)"
# From outside the source tree, so that `import upsertx` is the installed package.
cd python/tests
exec "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
