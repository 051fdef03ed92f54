#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ answer on 127.0.0.1; starts local servers that are
# installed but stopped, and says what to do when one is missing.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_up() {  # port name seconds
  for _ in $(seq 1 "$3"); do up "$1" && return 0; sleep 1; done
  echo "$2 did not come up on 127.0.0.1:$1" >&2; return 1
}

ok=0
if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    wait_up 5432 PostgreSQL 30 || ok=1
  else
    echo "PostgreSQL is not installed or not running on 127.0.0.1:5432." >&2
    echo "  Debian/Ubuntu: sudo apt-get install postgresql, with trust auth for 127.0.0.1," >&2
    echo "  or set DATABASE_URL to a server you can reach." >&2
    ok=1
  fi
fi
if ! up 5672; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "starting RabbitMQ..."
    rabbitmq-server -detached || true
    wait_up 5672 RabbitMQ 90 || ok=1
  else
    echo "RabbitMQ is not installed or not running on 127.0.0.1:5672." >&2
    echo "  Debian/Ubuntu: sudo apt-get install rabbitmq-server (guest/guest on localhost)," >&2
    echo "  or set AMQP_URI to a broker you can reach." >&2
    ok=1
  fi
fi
# The broker takes a few seconds after the port opens before it accepts logins.
if [ $ok -eq 0 ] && command -v rabbitmqctl >/dev/null 2>&1; then
  for _ in $(seq 1 60); do rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
fi
exit $ok
