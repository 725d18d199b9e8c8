#!/usr/bin/env bash
# The weft-lab demo (`make lab`): bring up a lab on the real Kubernetes API,
# deploy dockercoins (Deployments and ClusterIP Services), print who reaches
# whom, by pod IP and through the Services (kube-proxy), lock it down with
# NetworkPolicies, and print it again. The lab stays up to play with.
#   WEFT_LAB       the weft-lab binary (default: target/debug/weft-lab)
#   WEFT_LAB_NAME  the lab's name (default: weft)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${WEFT_LAB:-$(cd "$here/.." && pwd)/target/debug/weft-lab}
name=${WEFT_LAB_NAME:-weft}
app=$here/demo/dockercoins.yaml
policy=$here/demo/dockercoins-policy.yaml

run() {
    echo "\$ weft-lab --name $name $*"
    "$lab" --name "$name" "$@"
}

quiet_kubectl() {
    "$lab" --name "$name" kubectl -- -n dockercoins "$@"
}

matrices() {
    run matrix --port 80 --timeout-ms 500
    echo
    run matrix --port 6379 --timeout-ms 500
    echo
}

# From the worker (or $1) to each Service's ClusterIP, through kube-proxy.
services() {
    local from=$1
    for service in rng:80 hasher:80 webui:80 redis:6379; do
        local ip
        ip=$(quiet_kubectl get service "${service%:*}" -o jsonpath='{.spec.clusterIP}')
        echo -n "${service%:*} ($ip:${service#*:}): "
        "$lab" --name "$name" probe "dockercoins/$from" "$ip" "${service#*:}" --timeout-ms 500 2>/dev/null || true
    done
}

run up
# A rerun starts from the app without its policies.
run delete --ignore-not-found -f "$policy"
run apply -f "$app"
run kubectl -- get pods,services -n dockercoins -o wide
echo
worker=$(quiet_kubectl get pods -l app=worker -o jsonpath='{.items[0].metadata.name}')
webui=$(quiet_kubectl get pods -l app=webui -o jsonpath='{.items[0].metadata.name}')
echo "== Every pod reaches every port that listens, pod IP to pod IP =="
matrices
echo "== The worker reaches every Service (ClusterIP via kube-proxy) =="
services "$worker"
echo "== So does the webui =="
services "$webui"
echo
run apply -f "$policy"
echo
echo "== Locked down: only the worker reaches rng and hasher, only worker and webui reach redis =="
matrices
echo "== The worker still reaches every Service =="
services "$worker"
echo "== The webui reaches only redis and itself =="
services "$webui"

# weftctl talks to one node's weftd; the lab keeps each node's socket here.
weftctl=$(dirname "$lab")/weftctl
nodes=/run/weft-lab/$name/nodes
logs=$(mktemp -d)
trap 'kill "${observers[@]}" 2>/dev/null || true; rm -rf "$logs"' EXIT
observers=()
for node in "$nodes"/*/; do
    node=$(basename "$node")
    "$weftctl" --run-dir "$nodes/$node/run" observe >"$logs/$node" &
    observers+=($!)
done
rng=$(quiet_kubectl get pods -l app=rng -o jsonpath='{.items[0].metadata.name}')
echo
echo "== webui -> rng:80 is dropped; weftctl observe on the nodes shows why =="
# The observers connect in the background: probe until one of them saw it.
for _ in $(seq 10); do
    run probe "dockercoins/$webui" "dockercoins/$rng" 80 --timeout-ms 500 || true
    if cat "$logs"/* | grep -q DROPPED; then break; fi
done
cat "$logs"/* | grep DROPPED | head -1
for node in "$nodes"/*/; do
    if "$weftctl" --run-dir "$node/run" policy "dockercoins/$rng" >"$logs/policy" 2>/dev/null; then
        echo "== weftctl policy dockercoins/$rng (on $(basename "$node")) =="
        cat "$logs/policy"
    fi
done
echo "The lab is still up. Try: $lab --name $name kubectl -- get pods -A -o wide"
echo "                          $lab --name $name exec dockercoins/$worker -- ip addr"
echo "Remove it with:           $lab --name $name down"
