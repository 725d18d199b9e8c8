#!/usr/bin/env bash
# The weft-lab demo (`make lab`): bring the lab up, apply a three-tier app,
# print who reaches whom, isolate the data tier with a NetworkPolicy, and
# print it again. The lab stays up afterwards to play with.
#   WEFT_LAB       the weft-lab binary (default: target/debug/weft-lab)
#   WEFT_LAB_NAME  the lab's name (default: weft)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${WEFT_LAB:-$(cd "$here/.." && pwd)/target/debug/weft-lab}
name=${WEFT_LAB_NAME:-weft}
ports=(80 8080 6379)

run() {
    echo "\$ weft-lab --name $name $*"
    "$lab" --name "$name" "$@"
}

matrices() {
    for port in "${ports[@]}"; do
        run matrix --port "$port" --timeout-ms 500
        echo
    done
}

run up
# A rerun starts from the app without its policy.
run delete --ignore-not-found -f "$here/demo/policy.yaml"
run apply -f "$here/demo/app.yaml"
run status
echo
echo "== Every pod reaches every port that listens =="
matrices
run apply -f "$here/demo/policy.yaml"
echo
echo "== redis only from api, on 6379 =="
matrices

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
echo "== web -> redis:6379 is dropped; weftctl observe on the nodes shows why =="
# The observers connect in the background: probe until one of them saw it.
for _ in $(seq 10); do
    run probe shop/web shop/redis 6379 --timeout-ms 500 || true
    if cat "$logs"/* | grep -q DROPPED; then break; fi
done
cat "$logs"/* | grep DROPPED | head -1
for node in "$nodes"/*/; do
    if "$weftctl" --run-dir "$node/run" policy shop/redis >"$logs/policy" 2>/dev/null; then
        echo "== weftctl policy shop/redis (on $(basename "$node")) =="
        cat "$logs/policy"
    fi
done
echo "The lab is still up. Try: $lab --name $name exec shop/web -- ip addr"
echo "Remove it with:           $lab --name $name down"
