#!/usr/bin/env bash
# Validates every Kubernetes manifest the project ships (the DaemonSet
# install, the lab's demo) strictly, unknown fields included, against the
# schemas of the Kubernetes release lab/k8s pins, with kubernetes-validate
# from the venv `make deps` installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WEFT_PY_VENV:-/var/cache/weft/python}
pin=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$root/lab/k8s/go.mod")
minor=${pin#v}
minor=${minor%.*}
"$venv/bin/kubernetes-validate" --strict --quiet -k "$minor.0" \
  "$root"/manifests/*.yaml "$root"/lab/demo/*.yaml
echo "manifests: valid for Kubernetes $minor ($(ls "$root"/manifests/*.yaml "$root"/lab/demo/*.yaml | wc -l) files)"
