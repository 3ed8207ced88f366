#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis servers the backend tests use are up:
# checks first, and only when one does not answer installs it (apt) and
# starts it. The tests find them through TSSKIT_TEST_DATABASE_URL and
# TSSKIT_TEST_REDIS_URL (defaults: postgres://postgres@127.0.0.1:5432/test,
# redis://127.0.0.1:6379/0).
set -euo pipefail

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() {
  { exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG; } 2>/dev/null
}
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "services: $* missing and no apt-get here: install and start it by hand" >&2
    exit 1
  fi
  [ -n "$apt_updated" ] || { sudo_ apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "$@" >/dev/null
}
wait_for() { # name check
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  echo "services: $1 did not come up" >&2
  exit 1
}

if ! pg_up; then
  echo "services: starting PostgreSQL"
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  conf=/etc/postgresql/$ver/main
  # Local trust on loopback, as on the development machines.
  if ! sudo_ grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
    sudo_ sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
  fi
  sudo_ pg_ctlcluster "$ver" main start || sudo_ pg_ctlcluster "$ver" main restart
  wait_for PostgreSQL pg_up
fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  if command -v psql >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -Atc 'create database test' >/dev/null 2>&1 || true
  fi
fi

if ! redis_up; then
  echo "services: starting Redis"
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  wait_for Redis redis_up
fi
echo "services: PostgreSQL and Redis are up"
