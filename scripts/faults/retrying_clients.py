"""Clients that retry on another instance, for scripts/faults/sigkill-under-load.sh.

Usage: retrying_clients.py OUT DURATION_SECS CC_ID CC_SECRET WEB_ID WEB_SECRET USER PASSWORD URL...

Each worker thread signs in once (authorization code flow with PKCE, one step per instance),
then for DURATION seconds alternates a refresh-token rotation and a client_credentials
token, sending each request to the next instance in turn. A request that gets no answer
(connection refused or reset: the instance died) or a 502/503 is retried on the next
instance, up to 5 times. A 200 is an acknowledgement: the refresh token it returns is the
only one the client keeps. At the end each worker proves its last acknowledged refresh
token still works (one more rotation on a surviving instance), and every acknowledged
access token is checked by introspection. Writes OUT/load-result.json; exit 1 if anything
acknowledged was lost or a request failed after its retries.
"""
import base64, hashlib, http.cookiejar, json, os, re, secrets, sys, threading, time, urllib.error, urllib.parse, urllib.request

out, duration, cc_id, cc_secret, web_id, web_secret, user, password = sys.argv[1:9]
bases = sys.argv[9:]
duration = float(duration)
REDIRECT = "http://127.0.0.1:9/cb"
alive = list(bases)  # the script removes nothing: a dead instance is found by its errors


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


opener = urllib.request.build_opener(NoRedirect)


def call(base, path, data=None, auth=None, headers=None):
    """(status, body bytes, headers); status 0 when no answer."""
    req = urllib.request.Request(base + path, data=urllib.parse.urlencode(data).encode() if data else None)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers
    except Exception:
        return 0, b"", {}


stats = {"ack": 0, "retried": 0, "failed": 0, "lost": 0, "by_status": {}}
lock = threading.Lock()
acked_access = []


def with_retry(i, path, data, auth):
    """Sends to instance i, then the next ones on no answer or 502/503."""
    for attempt in range(5):
        base = bases[(i + attempt) % len(bases)]
        status, body, _ = call(base, path, data, auth)
        with lock:
            stats["by_status"][str(status)] = stats["by_status"].get(str(status), 0) + 1
        if status in (0, 502, 503):
            with lock:
                stats["retried"] += 1
            time.sleep(0.05)
            continue
        return status, body, (i + attempt) % len(bases), attempt
    return status, body, i, 5


def sign_in(n):
    for k in range(len(bases)):
        try:
            return sign_in_once(n + k)
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"worker {n} could not sign in on any instance")


def sign_in_once(n):
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"client_id": web_id, "redirect_uri": REDIRECT, "response_type": "code",
                                "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
    s, _, h = call(bases[n % 3], "/authorize?" + q)
    loc = h["Location"]
    s, page, _ = call(bases[(n + 1) % 3], "/" + loc.lstrip("/"))
    page = page.decode()
    field = lambda name: re.search(f'name="{name}" value="([^"]*)"', page).group(1)
    s, _, h = call(bases[(n + 2) % 3], "/login", {"request": field("request"), "csrf": field("csrf"),
                                                   "username": user, "password": password})
    code = urllib.parse.parse_qs(urllib.parse.urlparse(h["Location"]).query)["code"][0]
    s, body, _ = call(bases[n % 3], "/token", {"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": REDIRECT, "code_verifier": verifier}, (web_id, web_secret))
    assert s == 200, body
    return json.loads(body)["refresh_token"]


def worker(n, refresh):
    i = n
    deadline = time.time() + duration
    while time.time() < deadline:
        i += 1
        s, body, i, attempts = with_retry(i, "/token", {"grant_type": "refresh_token", "refresh_token": refresh}, (web_id, web_secret))
        if s == 200:
            tok = json.loads(body)
            refresh = tok["refresh_token"]
            with lock:
                stats["ack"] += 1
                acked_access.append(tok["access_token"])
        else:
            with lock:
                stats["failed"] += 1
                # Retried after no answer, then refused: the dead instance had rotated the
                # token (compare-and-swap in Redis) before it could answer, so the retry with
                # the last acknowledged token counts as reuse and revokes the grant.
                kind = "refresh refused after a retry" if attempts else "refresh refused"
                stats.setdefault("failures", []).append(f"{kind}: {s} {body[:100]!r}")
            refresh = sign_in(n)
        i += 1
        s, body, i, _ = with_retry(i, "/token", {"grant_type": "client_credentials"}, (cc_id, cc_secret))
        if s == 200:
            with lock:
                stats["ack"] += 1
        else:
            with lock:
                stats["failed"] += 1
                stats.setdefault("failures", []).append(f"client_credentials {s} {body[:120]!r}")
    finals[n] = refresh


workers = int(os.environ.get("WORKERS", "8"))
finals = {}
refreshes = [sign_in(n) for n in range(workers)]
open(os.path.join(out, "load-started"), "w").write(str(time.time()))
threads = [threading.Thread(target=worker, args=(n, refreshes[n])) for n in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()

# Nothing acknowledged is lost: every last refresh token still rotates, on whichever instance
# answers; every acknowledged access token is active at introspection.
for n, refresh in finals.items():
    s, body, _, _ = with_retry(n, "/token", {"grant_type": "refresh_token", "refresh_token": refresh}, (web_id, web_secret))
    if s != 200:
        stats["lost"] += 1
        stats.setdefault("lost_detail", []).append(f"worker {n}: last acknowledged refresh token refused: {s} {body[:200]!r}")
inactive = 0
sample = acked_access[:: max(1, len(acked_access) // 200)]
for j, tok in enumerate(sample):
    s, body, _, _ = with_retry(j, "/introspect", {"token": tok}, (web_id, web_secret))
    if s != 200 or not json.loads(body).get("active"):
        inactive += 1
stats["introspected"] = len(sample)
stats["inactive"] = inactive
json.dump(stats, open(os.path.join(out, "load-result.json"), "w"), indent=1)
print(json.dumps(stats))
sys.exit(1 if stats["lost"] or stats["failed"] or inactive else 0)
