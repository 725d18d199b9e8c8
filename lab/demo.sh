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
echo "(weftd does not enforce NetworkPolicy yet: until the eBPF datapath lands this matrix is unchanged)"
matrices
echo "The lab is still up. Try: $lab --name $name exec shop/web -- ip addr"
echo "Remove it with:           $lab --name $name down"
