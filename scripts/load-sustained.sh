#!/usr/bin/env bash
# Sustained load on the production stack (see docs/BENCHMARKS.md, "Sustained load"): one
# release instance on PostgreSQL + Redis with keys in the database (a private PostgreSQL
# cluster and Redis on spare loopback ports, as the fault scripts use), pinned to core 0; oha
# on core 1 drives POST /token (client_credentials, ES256) over keep-alive connections.
#
# 1. The maximum: MAX_SECS seconds with 64 connections, as fast as the server answers.
# 2. The sustained run: LOAD_PCT % of that rate (oha -q, with latency correction, so a slow
#    answer counts from when the request was due), SUSTAIN_SECS seconds, 32 connections.
#    RSS is sampled every second. Fails unless every request answered 200.
#
# Needs oha (cargo install oha --locked). Only 127.0.0.1 is contacted; every run is bounded.
# Environment: MAX_SECS (15), SUSTAIN_SECS (60), LOAD_PCT (80), OUT, TESSERA_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/faults/lib.sh"
MAX_SECS="${MAX_SECS:-15}"
SUSTAIN_SECS="${SUSTAIN_SECS:-60}"
LOAD_PCT="${LOAD_PCT:-80}"
command -v oha >/dev/null || { echo "install oha: cargo install oha --locked" >&2; exit 1; }

pg_start
redis_start
start_instance 0
SERVER_PID=${INSTANCE_PIDS[0]}
taskset -acp 0 "$SERVER_PID" >/dev/null
make_clients
BASE=$(url 0)
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
IDLE_RSS=$(rss_kb)

run_oha() { # run_oha FILE ARGS...
    local file=$1; shift
    taskset -c 1 oha --no-tui --output-format json -m POST -a "$CC_ID:$CC_SECRET" \
        -T application/x-www-form-urlencoded -d grant_type=client_credentials "$@" "$BASE/token" >"$file"
}
summary() { # summary FILE: rps p50_ms p99_ms ok other
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
other = sum(v for k, v in codes.items() if k != "200") + sum(d.get("errorDistribution", {}).values())
print(f'{s["requestsPerSec"]:.0f} {p["p50"]*1000:.2f} {p["p99"]*1000:.2f} {ok} {other}')
PY
}

log "warm-up, then the maximum over $MAX_SECS s"
run_oha "$OUT/warmup.json" -z 3s -c 64
run_oha "$OUT/max.json" -z "${MAX_SECS}s" -c 64
read -r MAX_RPS MAX_P50 MAX_P99 MAX_OK MAX_OTHER < <(summary "$OUT/max.json")
TARGET=$(( MAX_RPS * LOAD_PCT / 100 ))
log "maximum $MAX_RPS req/s (p50 $MAX_P50 ms, p99 $MAX_P99 ms); sustaining $TARGET req/s for $SUSTAIN_SECS s"

echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null || true
: >"$OUT/rss.log"
( while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kb >>"$OUT/rss.log"; sleep 1; done ) &
SAMPLER=$!
PIDS+=("$SAMPLER")
# -w: requests in flight when the time is up are waited for, not aborted and counted as errors
# by oha ("aborted due to deadline"); every request sent is answered and judged.
run_oha "$OUT/sustained.json" -z "${SUSTAIN_SECS}s" -c 32 -q "$TARGET" --latency-correction -w
kill "$SAMPLER" 2>/dev/null || true
read -r RPS P50 P99 OK OTHER < <(summary "$OUT/sustained.json")
PEAK_RSS=$(sort -n "$OUT/rss.log" | tail -n 1)
END_RSS=$(rss_kb)
{
    echo "max_rps=$MAX_RPS max_p50_ms=$MAX_P50 max_p99_ms=$MAX_P99"
    echo "target_rps=$TARGET achieved_rps=$RPS p50_ms=$P50 p99_ms=$P99 ok=$OK errors=$OTHER"
    echo "rss_idle_kb=$IDLE_RSS rss_peak_kb=$PEAK_RSS rss_after_kb=$END_RSS"
} | tee "$OUT/result.txt"
(( OTHER == 0 )) || { log "$OTHER requests failed under sustained load"; exit 1; }
log "zero errors over $OK requests"
