#!/usr/bin/env bash
# The benchmark: builds upsertx (release), generates the data, runs every method on the
# same data in the same run, prints the tables and writes bench/results/.
#   bench/run.sh --rows 10000      quick (a few minutes)
#   bench/run.sh --rows 1000000    the headline figures
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
command -v sqlite3 >/dev/null || { echo "bench: installing the sqlite3 shell" >&2; apt-get install -y -qq sqlite3 >/dev/null; }
[ -x /usr/bin/time ] || { echo "bench: installing GNU time" >&2; apt-get install -y -qq time >/dev/null; }
# The Python recipes run in the bench's own virtualenv, from PyPI; nothing global.
if [ ! -x bench/.venv/bin/python ]; then
  echo "bench: creating bench/.venv" >&2
  python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install -q -r bench/requirements.txt
# The Python package, as its users install it (the wheel maturin builds).
scripts/wheel.sh bench/.venv
# pip does not keep the executable bit of the binary the sling package ships.
chmod +x bench/.venv/lib/python3*/site-packages/sling_linux_amd64/bin/sling-linux-amd64
python3 bench/bench.py "$@"
# The chart of the run just made (bench.py names its results JSON in results/.last).
bench/.venv/bin/python bench/chart.py "$(cat bench/results/.last)"
