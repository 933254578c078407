#!/usr/bin/env bash
# Fault: Redis stopped for 30 seconds under two Tessera instances (see docs/OPERATIONS.md).
#
# Before the outage a client_credentials token is issued and the JWKS saved. Redis is then
# stopped (SIGTERM; AOF on, so it comes back with its data) and every half second we record
# what an operator and clients see: /readyz, /metrics' tessera_state_up, the JWKS, offline
# verification of the token, client_credentials at /token, /introspect (needs the revocation
# marks in Redis) and /authorize (stores the pending request in Redis; an error after the
# client and redirect URI are validated goes back to the client, RFC 6749 4.1.2.1). After 30 s Redis is
# started again and we measure how long until every endpoint answers as before, with no
# restart of Tessera. Fails (exit 1) on an unexpected answer.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUTAGE_SECS="${OUTAGE_SECS:-30}"

mkdir -p "$OUT/redis-data"
redis_start_aof() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes --dir "$OUT/redis-data" \
        --logfile "$OUT/redis.log" --daemonize no &
    REDIS_PID=$!
    for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    exit 1
}
pg_start
redis_start_aof
start_instance 0
start_instance 1
make_clients
tessera_env "$BIN" clients create --name fault-web --first-party --redirect-uri http://127.0.0.1:9/cb \
    >"$OUT/web.json" 2>/dev/null
WEB_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$OUT/web.json")
A=$(url 0); B=$(url 1)
TOKEN=$(cc_token "$A")
[[ -n "$TOKEN" ]] || { log "no token before the outage"; exit 1; }
curl -s "$B/jwks.json" >"$OUT/jwks.json"
verify_offline "$TOKEN" "$OUT/jwks.json" || { log "token does not verify before the outage"; exit 1; }
AUTHZ="/authorize?client_id=$WEB_ID&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"

probe() { # one line of observations at time $1 (seconds since the outage began)
    local t=$1 ready metric jwks offline token intro authz
    ready=$(status_of "$B/readyz")
    metric=$(curl -s -m 3 "$B/metrics" | grep '^tessera_state_up' | awk '{print $2}')
    jwks=$(status_of "$A/jwks.json")
    if verify_offline "$TOKEN" "$OUT/jwks.json" 2>/dev/null; then offline=valid; else offline=INVALID; fi
    token=$(status_of -u "$CC_ID:$CC_SECRET" -d grant_type=client_credentials "$A/token")
    intro=$(status_of -u "$CC_ID:$CC_SECRET" -d "token=$TOKEN" "$B/introspect")
    # /authorize: 303 to the login page normally; during the outage RFC 6749's answer, a
    # redirect to the client with error=temporarily_unavailable (marked 303-unavailable).
    authz=$(curl -s -o /dev/null -m 3 -w '%{http_code} %{redirect_url}' "$A$AUTHZ" || true)
    case "$authz" in
        *error=temporarily_unavailable*) authz="${authz%% *}-unavailable" ;;
        *) authz="${authz%% *}" ;;
    esac
    printf '%6.1f readyz=%s state_up=%s jwks=%s offline=%s token=%s introspect=%s authorize=%s\n' \
        "$t" "$ready" "${metric:-?}" "$jwks" "$offline" "$token" "$intro" "$authz" | tee -a "$OUT/observations.log"
}

log "before the outage"; probe 0
redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""
T0=$(now_ms)
log "redis stopped for $OUTAGE_SECS s"
while (( $(now_ms) - T0 < OUTAGE_SECS * 1000 )); do
    probe "$(echo "scale=1; ($(now_ms) - $T0) / 1000" | bc)"
    sleep 0.5
done
# The body of a refused protocol request during the outage, for the record.
curl -s -u "$CC_ID:$CC_SECRET" -d "token=$TOKEN" "$B/introspect" >"$OUT/introspect-during-outage.json"
redis_start_aof
T1=$(now_ms)
log "redis started again"
recovered=""
while (( $(now_ms) - T1 < 60000 )); do
    line=$(probe "$(echo "scale=1; ($(now_ms) - $T0) / 1000" | bc)")
    if grep -qE 'readyz=200 state_up=1 jwks=200 offline=valid token=200 introspect=200 authorize=303$' <<<"$line"; then
        recovered=$(( $(now_ms) - T1 )); break
    fi
    sleep 0.2
done
[[ -n "$recovered" ]] || { log "did not recover within 60 s"; exit 1; }
log "recovered ${recovered} ms after Redis came back (no Tessera restart)"

# What must have held during the outage.
during=$(awk '$1 > 1 && $1 < '"$OUTAGE_SECS"'' "$OUT/observations.log")
grep -q 'offline=INVALID\|jwks=[^2]' <<<"$during" && { log "JWKS or offline verification failed during the outage"; exit 1; }
grep -q 'introspect=503' <<<"$during" || { log "introspection did not answer 503"; exit 1; }
grep -q 'authorize=303-unavailable' <<<"$during" ||
    { log "authorize did not send temporarily_unavailable to the client"; exit 1; }
grep -qE 'authorize=303$' <<<"$during" && { log "authorize went on to the login page without Redis"; exit 1; }
grep -q 'readyz=503' <<<"$during" || { log "readiness did not report the outage"; exit 1; }
grep -q '"temporarily_unavailable"' "$OUT/introspect-during-outage.json" || { log "no temporarily_unavailable body"; exit 1; }
grep -c 'state backend unavailable' "$OUT"/instance-*.log | sed 's/^/logged errors: /' >&2 || true
{
    echo "redis-outage: outage ${OUTAGE_SECS} s; recovery ${recovered} ms after Redis returned"
    echo "during: $(awk '{for(i=2;i<=NF;i++) c[$i]++} END{for(k in c) printf "%s(x%d) ", k, c[k]}' <<<"$during")"
} | tee "$OUT/result.txt"
