#!/usr/bin/env bash
# Fault: PostgreSQL restarted under two Tessera instances (see docs/OPERATIONS.md).
#
# PostgreSQL is stopped (fast shutdown: sessions are cut), kept down DOWN_SECS seconds, and
# started again; Tessera is not restarted. Every half second we record /readyz,
# tessera_store_up, client_credentials at /token (clients are cached 10 s), /binding-epochs
# (one query per call) and the admin API (users list), then measure how long after
# PostgreSQL is back every endpoint answers as before. Fails (exit 1) if they do not within
# 60 s, or if a request answers with anything but its normal status or a 5xx meanwhile.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DOWN_SECS="${DOWN_SECS:-15}"
# Requests wait up to 3 s for a database connection: give them time to answer.
CURL_MAX="${CURL_MAX:-6}"

pg_start
redis_start
start_instance 0
start_instance 1
make_clients
printf '%s' "a long admin passphrase" |
    tessera_env "$BIN" auths users create --instance-admin --username root --password-stdin >/dev/null 2>&1
A=$(url 0); B=$(url 1)

probe() {
    local t=$1 ready metric token epochs admin
    ready=$(status_of "$B/readyz")
    metric=$(curl -s -m 3 "$B/metrics" | grep '^tessera_store_up' | awk '{print $2}')
    token=$(status_of -u "$CC_ID:$CC_SECRET" -d grant_type=client_credentials "$A/token")
    epochs=$(status_of -u "$CC_ID:$CC_SECRET" "$B/binding-epochs?since=0")
    admin=$(status_of -u "root:a long admin passphrase" "$A/api/v1/default/users")
    printf '%6.1f readyz=%s store_up=%s token=%s epochs=%s admin=%s\n' \
        "$t" "$ready" "${metric:-?}" "$token" "$epochs" "$admin" | tee -a "$OUT/observations.log"
}
elapsed() { echo "scale=1; ($(now_ms) - $T0) / 1000" | bc; }

T0=$(now_ms)
log "before the restart"; probe 0
pg_stop fast
log "postgresql stopped for $DOWN_SECS s"
while (( $(now_ms) - T0 < DOWN_SECS * 1000 )); do probe "$(elapsed)"; sleep 0.5; done
curl -s -u "$CC_ID:$CC_SECRET" "$B/binding-epochs?since=0" >"$OUT/epochs-during-outage.json"
pg_start
T1=$(now_ms)
log "postgresql started again"
recovered=""
while (( $(now_ms) - T1 < 60000 )); do
    line=$(probe "$(elapsed)")
    if grep -q 'readyz=200 store_up=1 token=200 epochs=200 admin=200' <<<"$line"; then
        recovered=$(( $(now_ms) - T1 )); break
    fi
    sleep 0.2
done
[[ -n "$recovered" ]] || { log "did not recover within 60 s"; exit 1; }
log "recovered ${recovered} ms after PostgreSQL came back (no Tessera restart)"
bad=$(awk '{for(i=2;i<=NF;i++){split($i,kv,"="); if (kv[1]!="store_up" && kv[2]!~/^(200|5..|000)$/) print}}' "$OUT/observations.log")
[[ -z "$bad" ]] || { log "unexpected answers: $bad"; exit 1; }
grep -q 'readyz=503' "$OUT/observations.log" || { log "readiness did not report the outage"; exit 1; }
during=$(awk '$1 > 0.5 && $1 < '"$DOWN_SECS"'' "$OUT/observations.log")
{
    echo "pg-restart: down ${DOWN_SECS} s; recovery ${recovered} ms after PostgreSQL returned"
    echo "during: $(awk '{for(i=2;i<=NF;i++) c[$i]++} END{for(k in c) printf "%s(x%d) ", k, c[k]}' <<<"$during")"
    echo "body during: $(head -c 300 "$OUT/epochs-during-outage.json")"
} | tee "$OUT/result.txt"
