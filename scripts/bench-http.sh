#!/usr/bin/env bash
# HTTP benchmark of the token endpoint (see docs/BENCHMARKS.md): client_credentials per
# access-token algorithm, and RFC 8693 token exchange of a service account's API token.
#
# Builds the release binary, starts `tessera serve` on SQLite in a temporary folder pinned to
# core 0, creates one confidential client per access-token algorithm with the CLI, and a
# service account (bound to a role on a namespace) with an API token through the admin API,
# and drives POST /token from core 1 with 64 keep-alive connections. Measures time to /readyz 200, idle
# RSS, throughput and latency (3 runs per algorithm), peak RSS under load, and the same load
# once at the default log settings (info, JSON lines written to a file).
#
# Only 127.0.0.1 is targeted; every run has a fixed duration and the server is stopped on exit.
#
# Environment:
#   CARGO_TARGET_DIR  build folder (default /work/target-main)
#   SKIP_BUILD=1      use the existing release binary
#   PORT              port on 127.0.0.1 (default 38471)
#   DURATION          seconds per measured run (default 15)
#   RUNS              measured runs per algorithm (default 3)
#   CONNECTIONS       keep-alive connections (default 64)
#   ALGS              algorithms (default "ES256 RS256 EdDSA")
#   EXCHANGE=0        skip the token-exchange runs
#   SERVER_CPU, LOAD_CPU  cores for the server and the load generator (default 0 and 1)
#   OUT               folder for raw results (default: a new folder under /tmp, kept)
#   LOADGEN           oha or wrk (default: oha if installed, else wrk)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-main}"
PORT="${PORT:-38471}"
DURATION="${DURATION:-15}"
RUNS="${RUNS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
ALGS="${ALGS:-ES256 RS256 EdDSA}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
WARMUP="${WARMUP:-3}"
OUT="${OUT:-$(mktemp -d /tmp/tessera-bench-http.XXXXXX)}"
BIN="$CARGO_TARGET_DIR/release/tessera"
HOST="127.0.0.1"
BASE="http://$HOST:$PORT"

if [[ -z "${LOADGEN:-}" ]]; then
    if command -v oha >/dev/null; then LOADGEN=oha
    elif command -v wrk >/dev/null; then LOADGEN=wrk
    else echo "install a load generator: cargo install oha --locked (or apt-get install wrk)" >&2; exit 1
    fi
fi
for tool in taskset curl python3 jq; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== cargo build --release (target $CARGO_TARGET_DIR)" >&2
    (cd "$ROOT" && cargo build --release)
fi
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

WORK="$(mktemp -d /tmp/tessera-bench-srv.XXXXXX)"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    echo "port $PORT on $HOST is in use: set PORT" >&2; exit 1
fi

unset TESSERA_CONFIG RUST_LOG
export TESSERA__SERVER__LISTEN="$HOST:$PORT"
export TESSERA__SERVER__ISSUER="$BASE"
export TESSERA__DATABASE__URL="sqlite://$WORK/t.db"
export TESSERA__KEYS__DIR="$WORK/keys"

now_ns() { date +%s%N; }

# Prints the milliseconds from `start` (ns) until /readyz answers 200. Probes with bash's
# /dev/tcp (no process per probe), every 2 ms.
wait_ready() {
    local start=$1 line
    for _ in $(seq 5000); do
        if { exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null; then
            printf 'GET /readyz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$HOST:$PORT" >&3
            line=""
            IFS= read -r -t 5 line <&3 || true
            exec 3<&- 3>&-
            if [[ "$line" == "HTTP/1.1 200"* ]]; then
                echo $(( ($(now_ns) - start) / 1000000 ))
                return 0
            fi
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; log:" >&2; cat "$WORK/server.log" >&2; exit 1; }
        sleep 0.002
    done
    echo "server not ready after 10 s" >&2
    exit 1
}

# start_server LEVEL FORMAT: starts the server pinned to SERVER_CPU; sets SERVER_PID and READY_MS.
start_server() {
    local start
    wait_quiet
    start=$(now_ns)
    (cd "$WORK" && TESSERA__LOG__LEVEL="$1" TESSERA__LOG__FORMAT="$2" \
        exec taskset -c "$SERVER_CPU" "$BIN" serve >>"$WORK/server.log" 2>&1) &
    SERVER_PID=$!
    READY_MS=$(wait_ready "$start")
}

# Busy ticks of one core (user+nice+system+irq+softirq+steal) from /proc/stat.
core_busy() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# Compilers of other users of this machine: runs with any are marked in the results.
compilers() { { pgrep -f 'bin/rustc|clippy-driver' || true; } | wc -l; }
# Waits up to WAIT_QUIET seconds (default 900) for no compiler to be running.
wait_quiet() {
    local waited=0
    while (( $(compilers) > 0 && waited < ${WAIT_QUIET:-900} )); do
        (( waited == 0 )) && echo "  waiting for other builds to finish..." >&2
        sleep 5; waited=$((waited + 5))
    done
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# load TARGET SECONDS FILE: one load run against /token for TARGET (an algorithm's client, or
# "exchange"); raw output in FILE.
load() {
    local target=$1 secs=$2 file=$3 auth body
    auth="${AUTH[$target]}"
    body="${BODY[$target]}"
    case "$LOADGEN" in
        oha)
            local hdr=()
            [[ -n "$auth" ]] && hdr=(-H "Authorization: $auth")
            taskset -c "$LOAD_CPU" oha -z "${secs}s" -w -c "$CONNECTIONS" --no-tui --output-format json \
                -m POST "${hdr[@]}" -T application/x-www-form-urlencoded \
                -d "$body" "$BASE/token" >"$file"
            ;;
        wrk)
            cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
${auth:+wrk.headers["Authorization"] = "$auth"}
EOF
            taskset -c "$LOAD_CPU" wrk -t1 -c "$CONNECTIONS" -d "${secs}s" --latency -s "$WORK/post.lua" \
                "$BASE/token" >"$file"
            ;;
    esac
}

# Parses one raw load result into "rps p50_ms p99_ms ok_requests other_requests".
parse() {
    python3 - "$LOADGEN" "$1" <<'EOF'
import json, re, sys
tool, path = sys.argv[1], sys.argv[2]
text = open(path).read()
if tool == "oha":
    d = json.loads(text)
    s, p = d["summary"], d["latencyPercentiles"]
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k == "200")
    other = sum(v for k, v in codes.items() if k != "200") + sum(d.get("errorDistribution", {}).values())
    print(f'{s["requestsPerSec"]:.0f} {p["p50"]*1000:.2f} {p["p99"]*1000:.2f} {ok} {other}')
else:
    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {m.group(1): ms(m.group(2), m.group(3)) for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    total = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    other = int(bad.group(1)) if bad else 0
    print(f'{rps:.0f} {lat["50"]:.2f} {lat["99"]:.2f} {total - other} {other}')
EOF
}

declare -A CLIENT_ID CLIENT_SECRET AUTH BODY
RESULTS="$OUT/results.tsv"
printf 'phase\talg\trun\trps\tp50_ms\tp99_ms\tok\tother\tpeak_rss_kb\tserver_cpu_pct\tserver_core_pct\tload_core_pct\tcompilers\n' >"$RESULTS"

# measure PHASE ALG RUNS: warm-up, then RUNS measured runs, each with peak RSS reset first.
measure() {
    local phase=$1 alg=$2 runs=$3 i t0 t1 raw parsed hwm cpu s0 s1 l0 l1 hz busy
    hz=$(getconf CLK_TCK)
    load "$alg" "$WARMUP" "$OUT/$phase-$alg-warmup.raw"
    for i in $(seq "$runs"); do
        wait_quiet
        # Reset VmHWM to the current RSS so that each run reports its own peak.
        echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null || true
        raw="$OUT/$phase-$alg-$i.raw"
        t0=$(cpu_ticks "$SERVER_PID"); s0=$(core_busy "$SERVER_CPU"); l0=$(core_busy "$LOAD_CPU")
        load "$alg" "$DURATION" "$raw"
        t1=$(cpu_ticks "$SERVER_PID"); s1=$(core_busy "$SERVER_CPU"); l1=$(core_busy "$LOAD_CPU")
        busy=$(compilers)
        hwm=$(status_kb "$SERVER_PID" VmHWM)
        cpu=$(( (t1 - t0) * 100 / hz / DURATION ))
        s1=$(( (s1 - s0) * 100 / hz / DURATION )); l1=$(( (l1 - l0) * 100 / hz / DURATION ))
        parsed=$(parse "$raw")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$alg" "$i" "${parsed// /$'\t'}" "$hwm" "$cpu" \
            "$s1" "$l1" "$busy" >>"$RESULTS"
        echo "  $phase $alg run $i: rps p50 p99 ok other = $parsed; VmHWM ${hwm} kB;" \
            "server process ${cpu}%, core $SERVER_CPU ${s1}%, core $LOAD_CPU ${l1}%; compilers at end: $busy" >&2
    done
}

echo "== load generator: $LOADGEN; server on core $SERVER_CPU, load on core $LOAD_CPU; raw results in $OUT" >&2

# 1. Cold start: no database, no keys (migrations run, three keys generated).
start_server warn text
COLD_MS=$READY_MS
echo "== cold start (create database, generate keys): ready in $COLD_MS ms" >&2

# 2. Clients, created with the CLI against the same database.
for alg in $ALGS; do
    json=$(cd "$WORK" && TESSERA__LOG__LEVEL=warn "$BIN" clients create --name "bench-$alg" \
        --grant client_credentials --scope flows:read --access-token-alg "$alg" 2>/dev/null)
    CLIENT_ID[$alg]=$(jq -r .client_id <<<"$json")
    CLIENT_SECRET[$alg]=$(jq -r .client_secret <<<"$json")
    [[ -n "${CLIENT_SECRET[$alg]}" && "${CLIENT_SECRET[$alg]}" != null ]] || { echo "no secret: $json" >&2; exit 1; }
    AUTH[$alg]="Basic $(printf '%s:%s' "${CLIENT_ID[$alg]}" "${CLIENT_SECRET[$alg]}" | base64 -w0)"
    BODY[$alg]="grant_type=client_credentials"
done
TARGETS="$ALGS"
if [[ "${EXCHANGE:-1}" != 0 ]]; then
    # A service account bound to a role on a namespace, and its API token, through the admin API.
    ADMIN_PW="bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
    (cd "$WORK" && printf '%s' "$ADMIN_PW" | TESSERA__LOG__LEVEL=warn "$BIN" auths users create --instance-admin \
        --username bench-root --password-stdin >/dev/null 2>&1)
    api() { curl -sf -u "bench-root:$ADMIN_PW" -H 'content-type: application/json' -d "$2" "$BASE/api/v1/default/$1"; }
    api roles '{"id":"deployer","name":"Deployer","permissions":["FLOW:READ","FLOW:UPDATE","EXECUTION:CREATE"]}' >/dev/null
    api service-accounts '{"id":"bench-ci","name":"Bench CI","audiences":["https://kestra.bench"]}' >/dev/null
    api bindings '{"role_id":"deployer","principal_kind":"service_account","principal_id":"bench-ci","namespaces":["prod"]}' >/dev/null
    API_TOKEN=$(api service-accounts/bench-ci/tokens '{"name":"bench"}' | jq -r .token)
    [[ "$API_TOKEN" == tsa_* ]] || { echo "no API token" >&2; exit 1; }
    AUTH[exchange]=""
    BODY[exchange]="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$API_TOKEN&subject_token_type=urn%3Atessera%3Aparams%3Aoauth%3Atoken-type%3Aapi-token"
    TARGETS="$ALGS exchange"
fi
stop_server

# 3. Warm start at log level warn: ready time, idle memory, threads, then the load runs.
start_server warn text
WARM_MS=$READY_MS
for target in $TARGETS; do
    code=$(curl -s -o "$OUT/check-$target.json" -w '%{http_code}' ${AUTH[$target]:+-H "Authorization: ${AUTH[$target]}"} \
        -d "${BODY[$target]}" "$BASE/token")
    [[ "$code" == 200 ]] || { echo "token request for $target failed ($code): $(cat "$OUT/check-$target.json")" >&2; exit 1; }
done
sleep 1
IDLE_RSS=$(status_kb "$SERVER_PID" VmRSS)
THREADS=$(status_kb "$SERVER_PID" Threads)
echo "== warm start: ready in $WARM_MS ms; idle RSS $IDLE_RSS kB; $THREADS threads" >&2
for target in $TARGETS; do measure warn "$target" "$RUNS"; done
AFTER_RSS=$(status_kb "$SERVER_PID" VmRSS)
stop_server

# 4. Default log settings (info, JSON) to a file: one run per algorithm.
: >"$WORK/server.log"
start_server info json
INFO_MS=$READY_MS
for target in $TARGETS; do measure info "$target" 1; done
stop_server
LOG_BYTES=$(stat -c %s "$WORK/server.log")
LOG_LINES=$(wc -l <"$WORK/server.log")
head -c 2000 "$WORK/server.log" | grep '"response"' | head -1 >"$OUT/sample-log-line.json" || true

cat >"$OUT/meta.env" <<EOF
COLD_MS=$COLD_MS
WARM_MS=$WARM_MS
INFO_READY_MS=$INFO_MS
IDLE_RSS_KB=$IDLE_RSS
RSS_AFTER_LOAD_KB=$AFTER_RSS
THREADS=$THREADS
LOG_BYTES=$LOG_BYTES
LOG_LINES=$LOG_LINES
LOADGEN=$LOADGEN
CONNECTIONS=$CONNECTIONS
DURATION=$DURATION
EOF

python3 - "$RESULTS" "$OUT/meta.env" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
meta = dict(l.strip().split("=", 1) for l in open(sys.argv[2]) if "=" in l)
print()
print(f"Tessera /token over HTTP (client_credentials per algorithm; exchange = RFC 8693 with an API token): {meta['LOADGEN']}, {meta['CONNECTIONS']} keep-alive connections, "
      f"{meta['DURATION']} s per run; server on one core, load on the other")
print(f"time to /readyz 200: cold (new database, key generation) {meta['COLD_MS']} ms; "
      f"warm {meta['WARM_MS']} ms (log warn), {meta['INFO_READY_MS']} ms (log info JSON)")
print(f"idle RSS {int(meta['IDLE_RSS_KB']) / 1024:.1f} MiB ({meta['THREADS']} threads); "
      f"RSS after the warn runs {int(meta['RSS_AFTER_LOAD_KB']) / 1024:.1f} MiB")
print()
print("| log | target | runs | req/s (median) | req/s (min-max) | p50 ms | p99 ms | non-200 | peak RSS MiB | server CPU | load core |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
groups = {}
for r in rows:
    groups.setdefault((r["phase"], r["alg"]), []).append(r)
for (phase, alg), rs in groups.items():
    rps = [float(r["rps"]) for r in rs]
    med = statistics.median(rps)
    # The run whose throughput is the median supplies p50/p99.
    mid = sorted(rs, key=lambda r: float(r["rps"]))[len(rs) // 2]
    other = sum(int(r["other"]) for r in rs)
    peak = max(int(r["peak_rss_kb"]) for r in rs) / 1024
    cpu = statistics.median(int(r["server_cpu_pct"]) for r in rs)
    lcore = statistics.median(int(r["load_core_pct"]) for r in rs)
    noisy = sum(1 for r in rs if int(r["compilers"]) > 0)
    mark = f" ({noisy} run(s) overlapped a build)" if noisy else ""
    print(f"| {phase} | {alg} | {len(rs)} | {med:,.0f} | {min(rps):,.0f}-{max(rps):,.0f} | "
          f"{float(mid['p50_ms']):.2f} | {float(mid['p99_ms']):.2f} | {other} | {peak:.1f} | {cpu:.0f}% | {lcore:.0f}%{mark} |")
total = sum(int(r["ok"]) + int(r["other"]) for r in rows if r["phase"] == "info")
if total:
    print()
    lines, size = int(meta['LOG_LINES']), int(meta['LOG_BYTES'])
    print(f"info/JSON log: {lines:,} lines, {size / 1e6:.1f} MB ({size / max(lines, 1):.0f} bytes a line) for "
          f"{total:,} measured requests plus warm-ups")
EOF
echo "raw results: $OUT" >&2
