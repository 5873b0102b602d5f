#!/usr/bin/env bash
# Checks deploy/kubernetes: it renders (`kubectl kustomize`), every rendered
# object is valid against the Kubernetes API schemas (kubernetes-validate,
# pinned, strict, for each version in K8S_VERSIONS), and the gateway accepts
# what the manifests give it: the ConfigMap's config.yaml with the
# Deployment's arguments and the Secret's environment. The Secret's
# placeholders must stop it; real values must start it, answering GET /health,
# answering the Service's names (401 without the key) and refusing others (403).
# Then the ECS example's command and config (deploy/ecs) start it too.
#
#   deploy/check-manifests.sh
#
# Needs kubectl, python3 with venv (kubernetes-validate goes into
# target/deploy-venv), curl, and the mcp-sigv4 binary (MCP_SIGV4=path, by
# default target/debug/mcp-sigv4).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.33.0}"
VALIDATOR_VERSION=1.37.0
binary="${MCP_SIGV4:-target/debug/mcp-sigv4}"
[ -x "$binary" ] || { echo "check-manifests.sh: no binary at $binary; cargo build -p mcp-sigv4, or set MCP_SIGV4" >&2; exit 2; }
fail() { echo "check-manifests.sh: FAIL: $*" >&2; exit 1; }

scratch=$(mktemp -d)
gateway=""
cleanup() {
  [ -n "$gateway" ] && kill "$gateway" 2>/dev/null && wait "$gateway" 2>/dev/null
  rm -rf "$scratch"
  true
}
trap cleanup EXIT

kubectl kustomize deploy/kubernetes >"$scratch/rendered.yaml"
echo "ok: kubectl kustomize deploy/kubernetes renders $(grep -c '^kind:' "$scratch/rendered.yaml") objects"

venv=target/deploy-venv
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$VALIDATOR_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "kubernetes-validate==$VALIDATOR_VERSION"
fi
for version in $K8S_VERSIONS; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$scratch/rendered.yaml" \
    || fail "the rendered manifests are not valid for Kubernetes $version"
  echo "ok: valid (strict) for Kubernetes $version"
done

# What the pod would get: the config file, the gateway's arguments, and the
# environment with each secretKeyRef resolved from the rendered Secret.
"$venv/bin/python" - "$scratch" <<'PY'
import json, sys, yaml
scratch = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{scratch}/rendered.yaml")) if d]
def one(kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
configmap, secret, deployment, service = one("ConfigMap"), one("Secret"), one("Deployment"), one("Service")
pod = deployment["spec"]["template"]["spec"]
container = pod["containers"][0]
mount = next(m for m in container["volumeMounts"]
             if any(v["name"] == m["name"] and v.get("configMap", {}).get("name") == configmap["metadata"]["name"]
                    for v in pod["volumes"]))
open(f"{scratch}/config.yaml", "w").write(configmap["data"]["config.yaml"])
env = {}
for var in container.get("env", []):
    if "value" in var:
        env[var["name"]] = var["value"]
    else:
        ref = var["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"], f"{var['name']} names another Secret"
        env[var["name"]] = secret["stringData"][ref["key"]]
json.dump({
    "mount": mount["mountPath"],
    "args": container["args"],
    "env": env,
    "service": f'{service["metadata"]["name"]}.{service["metadata"]["namespace"]}.svc.cluster.local',
    "replicas": deployment["spec"]["replicas"],
}, open(f"{scratch}/pod.json", "w"))
PY
pod() { python3 -c "import json,sys; v=json.load(open('$scratch/pod.json'))[sys.argv[1]]; print('\n'.join(v) if isinstance(v, list) else '\n'.join(f'{k}={x}' for k, x in v.items()) if isinstance(v, dict) else v)" "$1"; }
[ "$(pod replicas)" = 3 ] || fail "the Deployment runs $(pod replicas) replicas, not 3"
mount=$(pod mount)
mapfile -t args < <(pod args | sed -e "s#^--config=$mount/#--config=$scratch/#" -e 's#^--listen=.*#--listen=127.0.0.1:PORT#')
mapfile -t env < <(pod env)
service=$(pod service)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
args=("${args[@]/PORT/$port}")

# The placeholders must not start a gateway.
code=0
env -i "${env[@]}" "$binary" "${args[@]}" >"$scratch/placeholder.out" 2>&1 || code=$?
[ "$code" != 0 ] || fail "the gateway started with the Secret's placeholders"
grep -q master_key "$scratch/placeholder.out" || fail "the placeholder refusal does not name master_key: $(cat "$scratch/placeholder.out")"
echo "ok: the Secret's placeholders stop the gateway: $(tail -1 "$scratch/placeholder.out")"

# Real values, as `openssl rand -hex 32` makes them.
key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
env=("${env[@]/#GATEWAY_MASTER_KEY=*/GATEWAY_MASTER_KEY=$key}")
env=("${env[@]/#GATEWAY_SESSION_SECRET=*/GATEWAY_SESSION_SECRET=$secret}")
env -i "${env[@]}" "$binary" "${args[@]}" >"$scratch/gateway.out" 2>&1 &
gateway=$!
status=""
for _ in $(seq 100); do
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
  [ "$status" = 200 ] && break
  kill -0 "$gateway" 2>/dev/null || break
  sleep 0.1
done
[ "$status" = 200 ] || fail "GET /health: '$status'; gateway log: $(cat "$scratch/gateway.out")"
echo "ok: the gateway starts with the ConfigMap, the Deployment's arguments and the Secret's keys; GET /health 200"

probe() { curl -s -o /dev/null -w '%{http_code}' -H "Host: $1" -X POST -H 'Content-Type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "http://127.0.0.1:$port/mcp"; }
for name in "${service%%.*}" "$service"; do
  status=$(probe "$name")
  [ "$status" = 401 ] || fail "Host: $name got $status, not 401 (allowed, no key)"
done
status=$(probe evil.example.com)
[ "$status" = 403 ] || fail "Host: evil.example.com got $status, not 403"
echo "ok: the Service's names are allowed hosts (401 without the key), others get 403"
# The kubelet's probes send Host: <pod IP>:<port>, which no allowed name covers.
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: 10.1.2.3:4000' "http://127.0.0.1:$port/health")
[ "$status" = 200 ] || fail "GET /health with the kubelet's Host got $status, not 200"
echo "ok: GET /health answers the kubelet's probe (Host: the pod's IP)"

kill -TERM "$gateway"
code=0
wait "$gateway" || code=$?
gateway=""
[ "$code" = 0 ] || fail "the gateway exited $code on SIGTERM"
echo "ok: the gateway exits 0 on SIGTERM"

# The ECS example: its task's command with deploy/ecs/config.yaml (which its
# Containerfile puts at --config), the environment plus the two secrets.
mapfile -t args < <(python3 -c 'import json; [print(a) for a in json.load(open("deploy/ecs/task-definition.json"))["containerDefinitions"][0]["command"]]' \
  | sed -e "s#^--config=.*#--config=deploy/ecs/config.yaml#" -e "s#^--listen=.*#--listen=127.0.0.1:$port#")
mapfile -t env < <(python3 -c 'import json; c = json.load(open("deploy/ecs/task-definition.json"))["containerDefinitions"][0]; [print(e["name"] + "=" + e["value"]) for e in c["environment"]]; [print(s["name"]) for s in c["secrets"]]')
env=("${env[@]/#GATEWAY_MASTER_KEY/GATEWAY_MASTER_KEY=$key}")
env=("${env[@]/#GATEWAY_SESSION_SECRET/GATEWAY_SESSION_SECRET=$secret}")
env -i "${env[@]}" "$binary" "${args[@]}" >"$scratch/ecs.out" 2>&1 &
gateway=$!
status=""
for _ in $(seq 100); do
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
  [ "$status" = 200 ] && break
  kill -0 "$gateway" 2>/dev/null || break
  sleep 0.1
done
[ "$status" = 200 ] || fail "ECS: GET /health: '$status'; gateway log: $(cat "$scratch/ecs.out")"
kill -TERM "$gateway"
code=0
wait "$gateway" || code=$?
gateway=""
[ "$code" = 0 ] || fail "ECS: the gateway exited $code on SIGTERM"
echo "ok: the ECS task's command and config start the gateway; GET /health 200"
echo "check-manifests.sh: all checks passed"
