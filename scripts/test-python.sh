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
scripts/wheel.sh "$VENV" || die "building or installing the wheel failed"

say "Python tests (pytest)"
# From outside the source tree, so that `import upsertx` is the installed package.
cd python/tests
exec "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
