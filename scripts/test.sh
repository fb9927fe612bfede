#!/usr/bin/env bash
# Runs every test of upsertx: unit tests, doc examples, and the end-to-end command-line
# tests against real databases. SQLite is built in; PostgreSQL and MariaDB are made
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

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
cargo nextest --version >/dev/null 2>&1 || { say "installing cargo-nextest"; cargo install --locked cargo-nextest; }

ensure_postgres
ensure_mariadb

say "formatting check"
cargo fmt --all -- --check
say "unit and end-to-end tests"
cargo nextest run --workspace --no-fail-fast
say "documentation examples"
cargo test --workspace --doc
