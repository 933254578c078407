#!/usr/bin/env bash
# Checks what can be checked of deploy/ on a machine without a cluster or a Docker daemon:
# - every Kubernetes manifest against the Kubernetes OpenAPI schemas (kubernetes-validate,
#   from PyPI, which ships the schemas: nothing is downloaded), strictly (unknown fields fail),
#   and that the kustomization builds (kubectl kustomize, when kubectl is installed);
# - the Deployment has liveness and readiness probes and resource requests, a
#   PodDisruptionBudget selects its pods;
# - compose.yaml parses and has two Tessera instances, PostgreSQL, Redis and the proxy, the
#   instances on Redis and database-held keys, every secret file it names made by
#   make-secrets.sh; nginx.conf names both instances;
# - the systemd unit passes `systemd-analyze verify` where systemd is installed.
# Run by .ci/run. Install the validator with: pip install kubernetes-validate
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../deploy"

command -v kubernetes-validate >/dev/null || { echo "kubernetes-validate missing: pip install kubernetes-validate" >&2; exit 1; }

echo "== Kubernetes manifests (kubernetes-validate --strict)"
kubernetes-validate --strict --quiet $(ls kubernetes/*.yaml | grep -v kustomization)
if command -v kubectl >/dev/null; then
    echo "== kubectl kustomize deploy/kubernetes"
    kubectl kustomize kubernetes >/dev/null
fi

echo "== structure of the manifests and of compose.yaml"
python3 - <<'PY'
import glob, re, sys, yaml

def fail(msg):
    print("check-deploy:", msg, file=sys.stderr)
    sys.exit(1)

docs = {}
for path in glob.glob("kubernetes/*.yaml"):
    for doc in yaml.safe_load_all(open(path)):
        if doc and "kind" in doc and doc["kind"] != "Kustomization":
            docs[doc["kind"]] = doc
for kind in ["Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret"]:
    if kind not in docs:
        fail(f"no {kind} in deploy/kubernetes")
dep = docs["Deployment"]
labels = dep["spec"]["template"]["metadata"]["labels"]
for c in dep["spec"]["template"]["spec"]["containers"]:
    for probe in ["livenessProbe", "readinessProbe"]:
        if probe not in c:
            fail(f"container {c['name']} has no {probe}")
    if c["readinessProbe"]["httpGet"]["path"] != "/readyz" or c["livenessProbe"]["httpGet"]["path"] != "/healthz":
        fail("probes must use /healthz (liveness) and /readyz (readiness)")
    req = c.get("resources", {}).get("requests", {})
    if not {"cpu", "memory"} <= set(req):
        fail(f"container {c['name']} lacks cpu and memory requests")
for kind in ["PodDisruptionBudget", "Service"]:
    sel = docs[kind]["spec"]["selector"]
    sel = sel.get("matchLabels", sel)
    if any(labels.get(k) != v for k, v in sel.items()):
        fail(f"the {kind} does not select the Deployment's pods")
keys = set(docs["ConfigMap"]["data"])
ref = open("../config/tessera.toml").read()
for k in keys:
    if k not in ref:
        fail(f"ConfigMap key {k} is not in config/tessera.toml")

compose = yaml.safe_load(open("compose.yaml"))
services = compose["services"]
instances = [n for n, s in services.items() if s.get("image", "").startswith("tessera")]
if len(instances) < 2:
    fail("compose.yaml needs two Tessera instances")
for n in ["postgres", "redis", "proxy"]:
    if n not in services:
        fail(f"compose.yaml has no {n} service")
for n in instances:
    env = services[n]["environment"]
    if env.get("TESSERA__STATE__BACKEND") != "redis" or env.get("TESSERA__KEYS__STORE") != "database":
        fail(f"{n} must use Redis and keys in the database")
    for k in env:
        if k.startswith("TESSERA__") and k.removesuffix("_FILE") not in ref:
            fail(f"{n}: {k} is not in config/tessera.toml")
    for s in services[n].get("secrets", []):
        if s not in compose["secrets"]:
            fail(f"{n} uses undeclared secret {s}")
made = open("make-secrets.sh").read()
for name, s in compose["secrets"].items():
    if s["file"].split("/")[-1] not in made:
        fail(f"make-secrets.sh does not write {s['file']}")
nginx = open("nginx.conf").read()
for n in instances:
    if not re.search(rf"server {n}:8080", nginx):
        fail(f"nginx.conf does not send requests to {n}")
print("deploy/ structure ok:", ", ".join(sorted(docs)), "and compose services", ", ".join(services))
PY

if command -v systemd-analyze >/dev/null; then
    echo "== systemd-analyze verify tessera.service"
    # The binary path does not exist on a build machine: only that warning is tolerated.
    out=$(systemd-analyze verify tessera.service 2>&1 || true)
    if grep -v -e "/usr/local/bin/tessera" -e '^$' <<<"$out" | grep -q .; then
        echo "$out" >&2
        exit 1
    fi
fi
echo "deploy/ checks passed"
