#!/usr/bin/env bash
# Runs the whole system with a demo region: installs, checks the servers, migrates, starts
# the services (notifications as two processes: its consumer and its senders), seeds demo
# data and prints tokens and URLs. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/servers.sh
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/ehcp}
export AMQP_URI=${AMQP_URI:-amqp://guest:guest@127.0.0.1:5672/}
export GATEWAY_PORT=${GATEWAY_PORT:-8000}
# The demo signs tokens with the public development secret; production mode refuses it.
export EHCP_MODE=${EHCP_MODE:-demo}
mkdir -p .run
.venv/bin/ehcp migrate
pids=()
if [ -z "${SMTP_HOST:-}" ]; then
  # No mail server given: a local one that writes every email to .run/mail.log.
  export SMTP_HOST=127.0.0.1 SMTP_PORT=${DEMO_SMTP_PORT:-8025}
  .venv/bin/python -m aiosmtpd -n -l "$SMTP_HOST:$SMTP_PORT" -c aiosmtpd.handlers.Debugging >.run/mail.log 2>&1 &
  pids+=($!)
fi
stopping=
stop() {
  trap - INT TERM EXIT
  stopping=1
  echo; echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  echo "stopped."
}
trap stop INT TERM EXIT
for s in referrals deadlines notifications notifications.senders gateway; do
  .venv/bin/python -m "services.$s" >".run/$s.log" 2>&1 &
  pids+=($!)
done
url="http://127.0.0.1:$GATEWAY_PORT"
for _ in $(seq 1 60); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "$url/readyz" >/dev/null || { echo "gateway not ready; see .run/*.log" >&2; exit 1; }
.venv/bin/ehcp seed-demo --url "$url" --tokens-file .run/tokens.json
cat <<MSG

EHCP Tracker is running.
  sign in:  $url/sign-in   (demo users and passwords above)
  gateway:  $url        (API under $url/v1, health $url/healthz, $url/readyz)
  metrics:  gateway :${GATEWAY_METRICS_PORT:-9100}  referrals :${REFERRALS_METRICS_PORT:-9101}  deadlines :${DEADLINES_METRICS_PORT:-9102}  notifications :${NOTIFICATIONS_METRICS_PORT:-9103}  senders :${NOTIFICATION_SENDERS_METRICS_PORT:-9104}   (http://127.0.0.1:PORT/metrics)
  logs:     .run/<service>.log (JSON lines); emails: .run/mail.log (when no SMTP_HOST was given)
  API docs: $url/v1/docs   (OpenAPI: $url/v1/openapi.json)

Try it (a SENCo submits a request, then reads the school's alerts):
  TOKEN=\$(python3 -c 'import json; print(json.load(open(".run/tokens.json"))["SENCo, Oakfield Primary (881)"])')
  curl -s -X POST $url/v1/referrals -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
    -d '{"child":{"given_name":"Sam","family_name":"Synthetic","date_of_birth":"2016-04-01"},"la_code":"881","school_urn":"100001","requested_by":"school","received_on":"$(date +%F)"}'
  curl -s $url/v1/alerts -H "Authorization: Bearer \$TOKEN"

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
[ -n "${stopping:-}" ] || echo "a service exited; see .run/*.log" >&2
