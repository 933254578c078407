# Shared by the fault scripts (sourced, not run). Each script gets its own PostgreSQL cluster
# and Redis server on spare loopback ports, started here and owned by the script, so stopping
# or restarting them never touches the servers other tests use; and 1-3 `tessera serve`
# instances on the release binary, sharing the database, Redis and database-held keys.
# Everything is stopped on exit. Only 127.0.0.1 is contacted.
#
# Environment:
#   TESSERA_BIN   the binary (default: $CARGO_TARGET_DIR/release/tessera, built if missing;
#                 CARGO_TARGET_DIR defaults to /work/target-release)
#   OUT           folder for logs and results (default: a new folder under /tmp, kept)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-release}"
BIN="${TESSERA_BIN:-$CARGO_TARGET_DIR/release/tessera}"
OUT="${OUT:-$(mktemp -d /tmp/tessera-fault.XXXXXX)}"
mkdir -p "$OUT"
PG_PORT="${PG_PORT:-54329}"
REDIS_PORT="${REDIS_PORT:-63799}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DIR="$OUT/pg"
PIDS=()
INSTANCE_PIDS=()
INSTANCE_PORTS=()
REDIS_PID=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" | tee -a "$OUT/events.log" >&2; }
now_ms() { date +%s%3N; }

for tool in curl python3 redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [[ ! -x "$BIN" ]]; then
    log "building the release binary into $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release --bin tessera)
fi

cleanup() {
    set +e
    for pid in "${INSTANCE_PIDS[@]}" "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    # Instances flush their audit entries to the database as they stop: let them, then stop
    # the servers.
    for pid in "${INSTANCE_PIDS[@]}"; do
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null
    [[ -d "$PG_DIR" ]] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR" -m immediate stop >/dev/null 2>&1
    wait 2>/dev/null
    log "logs and results in $OUT"
}
trap cleanup EXIT

# --- PostgreSQL: a private cluster (initdb as the postgres user, trust on loopback) ---------
pg_start() {
    if [[ ! -d "$PG_DIR" ]]; then
        mkdir -p "$PG_DIR" && chown postgres "$PG_DIR" "$OUT"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR" -A trust -U postgres >"$OUT/initdb.log"
    fi
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$OUT/postgres.log" -w \
        -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
}
pg_stop() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR" -m "${1:-fast}" -w stop >/dev/null; }
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

# --- Redis: a private server without persistence ---------------------------------------------
redis_start() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --logfile "$OUT/redis.log" --daemonize no &
    REDIS_PID=$!
    for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "redis did not start" >&2; exit 1
}
redis_stop() { kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""; }

# --- Tessera ---------------------------------------------------------------------------------
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OUT/encryption-key"
chmod 600 "$OUT/encryption-key"
BASE_PORT="${BASE_PORT:-38600}"
ISSUER="http://127.0.0.1:$BASE_PORT"

tessera_vars() {
    export TESSERA__DATABASE__URL="$DB_URL" TESSERA__STATE__BACKEND=redis \
        TESSERA__STATE__REDIS_URL="redis://127.0.0.1:$REDIS_PORT" TESSERA__STATE__REDIS_PREFIX="fault:" \
        TESSERA__KEYS__STORE=database TESSERA__KEYS__ENCRYPTION_KEY_FILE="$OUT/encryption-key" \
        TESSERA__SERVER__ISSUER="$ISSUER" TESSERA__LOG__FORMAT=json
}
tessera_env() { (tessera_vars && exec "$@"); }

# start_instance N: instance N (0, 1, 2) on port BASE_PORT+N; waits for /readyz.
start_instance() {
    local n=$1 port=$((BASE_PORT + $1))
    (cd "$OUT" && tessera_vars && export TESSERA__SERVER__LISTEN="127.0.0.1:$port" && exec "$BIN" serve) \
        >/dev/null 2>>"$OUT/instance-$n.log" &
    INSTANCE_PIDS[$n]=$!
    INSTANCE_PORTS[$n]=$port
    for _ in $(seq 300); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" == 200 ]] && return 0
        sleep 0.1
    done
    echo "instance $n not ready; see $OUT/instance-$n.log" >&2; exit 1
}
url() { echo "http://127.0.0.1:${INSTANCE_PORTS[$1]}"; }

# A confidential client_credentials client and a first-party authorization-code client.
make_clients() {
    tessera_env "$BIN" clients create --name fault-cc --grant client_credentials --scope api:read \
        >"$OUT/cc.json" 2>/dev/null
    CC_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$OUT/cc.json")
    CC_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$OUT/cc.json")
}

# status_of URL [curl args...]: the HTTP status (000 when no answer within 3 s).
status_of() { curl -s -o /dev/null -m "${CURL_MAX:-3}" -w '%{http_code}' "$@" || true; }

cc_token() { # cc_token BASE: prints the access token (empty on failure)
    curl -s -m 3 -u "$CC_ID:$CC_SECRET" -d grant_type=client_credentials "$1/token" |
        python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("access_token",""))
except Exception: print("")'
}

# verify_offline TOKEN JWKS_FILE: checks an ES256 token's signature against a saved JWKS, as a
# service does offline (no call to Tessera). Exit 0 when valid.
verify_offline() {
    python3 - "$1" "$2" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
def b64(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
token, jwks = sys.argv[1], json.load(open(sys.argv[2]))
h, p, s = token.split(".")
header, claims = json.loads(b64(h)), json.loads(b64(p))
jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
assert header["alg"] == "ES256" == jwk["alg"]
pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64(jwk["x"]), "big"), int.from_bytes(b64(jwk["y"]), "big"), ec.SECP256R1()).public_key()
sig = b64(s)
pub.verify(utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")), f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
assert claims["exp"] > time.time(), "expired"
PY
}
