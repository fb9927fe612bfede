#!/usr/bin/env bash
# Runs every test of upsertx: unit tests, doc examples, the end-to-end command-line
# tests against real databases, and the Python package's tests (scripts/test-python.sh:
# a wheel built with maturin into a virtualenv of its own, then pytest). SQLite is built in; PostgreSQL and MariaDB are made
# ready here: installed with apt-get when missing (as root), started when stopped, and
# set up for the tests (trust auth on 127.0.0.1, root user, database `test`). Any
# failure stops the run loudly: no test is ever skipped for a missing server.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "$what did not become ready within 60 s"
}

ensure_postgres() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    # ssl-cert gives the server its (snakeoil) certificate, so ssl = on for the TLS tests.
    apt_install postgresql ssl-cert ca-certificates
    local conf; conf=$(ls -d /etc/postgresql/*/main | head -1)
    # Tests connect over TCP as root without a password, as on the development machines.
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  wait_for "PostgreSQL on 127.0.0.1:5432" pg_isready -q -h 127.0.0.1 -p 5432
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\" | grep -q 1 || createuser -s root"
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb -O root test"
  psql -h 127.0.0.1 -U root -d test -qtAc 'SELECT 1' >/dev/null || die "cannot connect to PostgreSQL as root@127.0.0.1/test"
}

ensure_mariadb() {
  if ! [ -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server
  fi
  if ! mariadb-admin ping -h 127.0.0.1 -P 3306 -u root --silent 2>/dev/null && ! mariadb-admin ping --silent 2>/dev/null; then
    say "starting MariaDB"
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  fi
  wait_for "MariaDB" sh -c 'mariadb-admin ping -h 127.0.0.1 -P 3306 -u root --silent || mariadb-admin ping --silent'
  if ! mariadb -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null 2>&1; then
    # A fresh install authenticates root by unix socket only: allow the empty password
    # over TCP, as on the development machines.
    as_root mariadb -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;"
  fi
  mariadb -h 127.0.0.1 -P 3306 -u root -e 'CREATE DATABASE IF NOT EXISTS test' || die "cannot connect to MariaDB as root@127.0.0.1"
}

# A second MariaDB, with TLS, on 127.0.0.1:3307 for the TLS tests (the main server has no
# certificate, and enabling one would mean restarting it): its own data directory and a
# throwaway CA in $TLS_DIR, shared by every checkout on this machine. The server
# certificate names only `localhost`, so the tests can check host-name verification.
TLS_DIR=${UPSERTX_TEST_MYSQL_TLS_DIR:-/tmp/upsertx-mariadb-tls}
ensure_mariadb_tls() {
  if [ -f "$TLS_DIR/certs/ca.pem" ] && mariadb -h 127.0.0.1 -P 3307 -u root --ssl -e 'SELECT 1' >/dev/null 2>&1; then
    return 0
  fi
  say "starting a TLS-enabled MariaDB on 127.0.0.1:3307 ($TLS_DIR)"
  pkill -f -- "--datadir=$TLS_DIR/data" 2>/dev/null && sleep 2 || true
  command -v openssl >/dev/null || apt_install openssl
  rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR/data" "$TLS_DIR/certs"
  (
    cd "$TLS_DIR/certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=upsertx test CA" -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile san.ext -out server.pem
  ) >"$TLS_DIR/certs.log" 2>&1 || die "could not make the TLS test certificates (see $TLS_DIR/certs.log)"
  local user; user=$(id -un)
  mariadb-install-db --no-defaults --user="$user" --datadir="$TLS_DIR/data" --auth-root-authentication-method=normal \
    --skip-test-db >"$TLS_DIR/install.log" 2>&1 || die "mariadb-install-db failed (see $TLS_DIR/install.log)"
  start-stop-daemon --start --background --pidfile "$TLS_DIR/daemon.pid" --make-pidfile --exec /usr/sbin/mariadbd -- \
    --no-defaults --user="$user" --datadir="$TLS_DIR/data" --port=3307 --bind-address=127.0.0.1 \
    --socket="$TLS_DIR/mysqld.sock" --pid-file="$TLS_DIR/mysqld.pid" --log-error="$TLS_DIR/error.log" \
    --innodb-buffer-pool-size=32M --ssl-ca="$TLS_DIR/certs/ca.pem" --ssl-cert="$TLS_DIR/certs/server.pem" \
    --ssl-key="$TLS_DIR/certs/server.key"
  wait_for "the TLS MariaDB on 127.0.0.1:3307 (see $TLS_DIR/error.log)" mariadb -h 127.0.0.1 -P 3307 -u root --ssl -e 'SELECT 1'
  mariadb -h 127.0.0.1 -P 3307 -u root -e 'CREATE DATABASE IF NOT EXISTS test' || die "cannot use the TLS MariaDB"
}

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
cargo nextest --version >/dev/null 2>&1 || { say "installing cargo-nextest"; cargo install --locked cargo-nextest; }

ensure_postgres
ensure_mariadb
ensure_mariadb_tls
export UPSERTX_TEST_MYSQL_TLS_CA="$TLS_DIR/certs/ca.pem"

say "formatting check"
cargo fmt --all -- --check
say "lints (clippy, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The Citus suite's tests (scripts/test-citus.sh) are compiled and linted here, not run.
cargo clippy -p upsertx-cli --all-targets --features citus-tests --quiet -- -D warnings
say "the library with some databases left out (cargo features)"
# Each database alone, and each two together (a module cfg'd for some of them must stay
# so), with no warning: a helper only some databases use carries their cfg.
for features in sqlite postgres mysql postgres,mysql sqlite,mysql sqlite,postgres; do
    cargo clippy --quiet -p upsertx --no-default-features --features "$features" -- -D warnings
done
say "unit and end-to-end tests"
cargo nextest run --workspace --no-fail-fast
say "the library's own tests with each database alone (cargo features)"
for features in sqlite postgres mysql; do
    cargo nextest run --no-fail-fast -p upsertx --no-default-features --features "$features" --lib
done
say "documentation examples"
cargo test --workspace --doc
scripts/test-python.sh
