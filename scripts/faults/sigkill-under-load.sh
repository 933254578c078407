#!/usr/bin/env bash
# Fault: one of three instances killed with SIGKILL under load (see docs/OPERATIONS.md).
#
# Three instances share PostgreSQL, Redis and the signing keys. WORKERS clients
# (retrying_clients.py) sign in once, then rotate refresh tokens and take client_credentials
# tokens for DURATION seconds, each request to the next instance in turn, retrying on the
# next one when an instance does not answer. KILL_AT seconds in, instance 1 gets SIGKILL.
# Passes when no request failed after its retries and nothing acknowledged was lost: every
# client's last acknowledged refresh token still works and acknowledged access tokens are
# active.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DURATION="${DURATION:-20}"
KILL_AT="${KILL_AT:-8}"
PASSWORD="a long passphrase for load"

pg_start
redis_start
start_instance 0
start_instance 1
start_instance 2
make_clients
tessera_env "$BIN" clients create --name fault-web --first-party --redirect-uri http://127.0.0.1:9/cb \
    >"$OUT/web.json" 2>/dev/null
WEB_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$OUT/web.json")
WEB_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$OUT/web.json")
printf '%s' "$PASSWORD" | tessera_env "$BIN" users create --username loader --password-stdin >/dev/null 2>&1

python3 "$(dirname "${BASH_SOURCE[0]}")/retrying_clients.py" "$OUT" "$DURATION" "$CC_ID" "$CC_SECRET" \
    "$WEB_ID" "$WEB_SECRET" loader "$PASSWORD" "$(url 0)" "$(url 1)" "$(url 2)" >"$OUT/load.out" &
LOAD=$!
PIDS+=("$LOAD")
for _ in $(seq 300); do [[ -f "$OUT/load-started" ]] && break; sleep 0.1; done
sleep "$KILL_AT"
kill -KILL "${INSTANCE_PIDS[1]}"
log "instance 1 (pid ${INSTANCE_PIDS[1]}) killed with SIGKILL"
rc=0
wait "$LOAD" || rc=$?
cat "$OUT/load.out"
cp "$OUT/load-result.json" "$OUT/result.txt" 2>/dev/null || true
[[ $rc == 0 ]] || { log "acknowledged work was lost or requests failed (see $OUT/load-result.json)"; exit 1; }
log "passed: nothing acknowledged was lost"
