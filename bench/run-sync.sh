#!/usr/bin/env bash
# The `upsertx sync` benchmark (bench/sync.py): builds upsertx (release) and the bench's
# virtualenv (for sling), then runs it.
#   bench/run-sync.sh --scale 0.01     a few minutes
#   bench/run-sync.sh --scale 1        the issue's sizes (about 5.5M rows)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
if [ ! -x bench/.venv/bin/python ]; then
  echo "bench: creating bench/.venv" >&2
  python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install -q -r bench/requirements.txt
# pip does not keep the executable bit of the binary the sling package ships.
chmod +x bench/.venv/lib/python3*/site-packages/sling_linux_amd64/bin/sling-linux-amd64
bench/.venv/bin/python bench/sync.py "$@"
