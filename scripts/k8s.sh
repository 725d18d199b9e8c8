#!/usr/bin/env bash
# Builds the upstream Kubernetes control plane the lab runs: kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy, kubectl and etcd, at
# the versions pinned in lab/k8s/go.mod and lab/k8s/etcd/go.mod, into a cache
# outside the git tree:
#   ${WEFT_K8S_CACHE:-/var/cache/weft/k8s}/<k8s version>-<etcd version>/bin/
# Skips the build (in well under a second) when that directory holds a stamp
# of the same pins. A cold build (module download + compile) took 18 minutes
# on a busy 2-core machine; see BENCHMARKS.md. Go's module and build caches
# (about 4 GB) live in a scratch directory removed after the build, so the
# build leaves only the binaries (about 450 MB) on disk.
#
#   scripts/k8s.sh           build if missing, print the bin dir
#   scripts/k8s.sh bin-dir   print the bin dir the lab uses: $WEFT_K8S_BIN_DIR
#                            if set, else the cache's (built or not)
#   scripts/k8s.sh check     exit 0 if the cache holds the pinned build
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MOD=$ROOT/lab/k8s
ETCD_MOD=$MOD/etcd
# Bump to rebuild when the recipe below changes but the pins do not.
RECIPE=1

K8S_VERSION=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$MOD/go.mod")
ETCD_VERSION=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$ETCD_MOD/go.mod")
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || { echo "k8s: no pins in $MOD" >&2; exit 1; }

CACHE=${WEFT_K8S_CACHE:-/var/cache/weft/k8s}
DIR=$CACHE/$K8S_VERSION-$ETCD_VERSION
BIN=$DIR/bin
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl etcd)
INPUTS="recipe $RECIPE $(cat "$MOD/go.mod" "$MOD/go.sum" "$ETCD_MOD/go.mod" "$ETCD_MOD/go.sum" | sha256sum | cut -d' ' -f1)"

present() {
  [ "$(sed -n 's/^inputs //p' "$DIR/stamp" 2>/dev/null)" = "$INPUTS" ] || return 1
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

case "${1:-build}" in
  bin-dir) echo "${WEFT_K8S_BIN_DIR:-$BIN}"; exit 0 ;;
  check) present; exit ;;
  build) ;;
  *) echo "usage: $0 [build|bin-dir|check]" >&2; exit 2 ;;
esac

if present; then
  echo "k8s: Kubernetes $K8S_VERSION and etcd $ETCD_VERSION in $BIN"
  exit 0
fi

command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if present; then  # another run built it while we waited
  echo "k8s: Kubernetes $K8S_VERSION and etcd $ETCD_VERSION in $BIN"
  exit 0
fi

echo "k8s: building Kubernetes $K8S_VERSION and etcd $ETCD_VERSION (cold: up to 18 minutes on 2 cores)"
start=$SECONDS
TMP=$(mktemp -d "$CACHE/.build-XXXXXX")
GO_SCRATCH=$(mktemp -d "$CACHE/.go-XXXXXX")
trap 'rm -rf "$TMP" "$GO_SCRATCH"' EXIT
chmod 755 "$TMP"
mkdir "$TMP/bin"

export CGO_ENABLED=0
# Private caches, writable so that rm -rf can remove the module cache.
export GOCACHE=$GO_SCRATCH/build GOMODCACHE=$GO_SCRATCH/mod GOFLAGS=-modcacherw
# Kubernetes' release ldflags (hack/lib/version.sh), for both version packages,
# so that `kubectl version` and version-skew checks read the pinned release.
# The module zip carries no git commit: gitTreeState is "archive", gitCommit
# empty; buildDate is the release's own time, so rebuilds are reproducible.
major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
build_date=$(cd "$MOD" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
done

# `tool` is every tool line of lab/k8s/go.mod: the five Kubernetes binaries.
(cd "$MOD" && go build -trimpath -ldflags "$ldflags" -o "$TMP/bin/" tool)
(cd "$ETCD_MOD" && go build -trimpath -ldflags "-s -w" -o "$TMP/bin/etcd" go.etcd.io/etcd/server/v3)

for b in "${BINARIES[@]}"; do [ -x "$TMP/bin/$b" ] || { echo "k8s: $b was not built" >&2; exit 1; }; done
{
  echo "kubernetes $K8S_VERSION"
  echo "etcd $ETCD_VERSION"
  echo "go $(go env GOVERSION)"
  echo "inputs $INPUTS"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s"
} >"$TMP/stamp"

# Swap the finished directory in: readers see the old build or the new one.
if [ -e "$DIR" ]; then
  mv "$DIR" "$TMP.old"
fi
mv "$TMP" "$DIR"
rm -rf "$TMP.old" "$GO_SCRATCH"
trap - EXIT
echo "k8s: built in $((SECONDS - start)) s: Kubernetes $K8S_VERSION and etcd $ETCD_VERSION in $BIN"
