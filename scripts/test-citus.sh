#!/usr/bin/env bash
# The Citus suite: the end-to-end scenarios that apply to distributed PostgreSQL, run on
# distributed and on reference tables of a Citus cluster you provide.
#   scripts/test-citus.sh postgres://root@127.0.0.1:9700/test
# The URL names a coordinator's database with the citus extension created and at least
# one worker added; the user must be allowed to create schemas there (each test works in
# a schema of its own and drops it). No package registry ships Citus, so this suite is
# not part of scripts/test.sh; see the README, "Distributed PostgreSQL (Citus)".
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'scripts/test-citus.sh: %s\n' "$*" >&2; exit 1; }

url=${1:-${UPSERTX_TEST_CITUS:-}}
[ -n "$url" ] || die "usage: scripts/test-citus.sh COORDINATOR_URL (or set UPSERTX_TEST_CITUS)"
command -v psql >/dev/null || die "psql is needed to check the cluster"
version=$(psql "$url" -qtAc "SELECT extversion FROM pg_extension WHERE extname = 'citus'") ||
    die "cannot connect to the coordinator"
[ -n "$version" ] || die "the citus extension is not created in that database"
workers=$(psql "$url" -qtAc "SELECT count(*) FROM citus_get_active_worker_nodes()")
[ "$workers" -ge 1 ] || die "the coordinator has no active worker"
printf '\033[1m==> the Citus suite against Citus %s with %s workers\033[0m\n' "$version" "$workers" >&2

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest
# The suite: the e2e binary's `citus` module, and every shared scenario on distributed
# and on reference tables (`every_dialect!` makes their `citus` and `citus_reference`
# modules with the feature; the scenarios that do not apply, or not yet, are listed there
# with the reason, and in the README).
UPSERTX_TEST_CITUS=$url cargo nextest run -p upsertx-cli --test e2e --features citus-tests --no-fail-fast \
    -E 'test(/^citus::/) or test(/::citus::/) or test(/::citus_reference::/)'
