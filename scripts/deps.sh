#!/usr/bin/env bash
# Installs everything Weft needs on a fresh Debian machine, idempotently:
# Debian packages, the pinned eBPF nightly with rust-src, bpf-linker built
# against Debian's LLVM 22, the musl target `make image` builds static
# binaries for, kubernetes-validate (PyPI) in a venv, and the lab's
# Kubernetes control plane. Fast when everything is already there.
set -euo pipefail

EBPF_TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$(dirname "$0")/../ebpf/programs/rust-toolchain.toml")
BPF_LINKER_VERSION=0.13.0
MUSL_TARGET=x86_64-unknown-linux-musl
# `make test` validates the manifests strictly with it (scripts/validate-manifests.sh).
KUBERNETES_VALIDATE_VERSION=1.37.0
PY_VENV=${WEFT_PY_VENV:-/var/cache/weft/python}
APT_PACKAGES=(
  llvm-22-dev libpolly-22-dev libzstd-dev zlib1g-dev
  iproute2 iperf3 nftables ethtool iptables ipset
  containernetworking-plugins podman runc busybox-static
  musl-tools file python3-venv
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! rustup toolchain list | grep -q "^${EBPF_TOOLCHAIN}"; then
  echo "deps: installing Rust ${EBPF_TOOLCHAIN} with rust-src"
  rustup toolchain install "$EBPF_TOOLCHAIN" --profile minimal --component rust-src
elif ! rustup component list --installed --toolchain "$EBPF_TOOLCHAIN" | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain "$EBPF_TOOLCHAIN"
fi

# `make image`: weft and weftd linked statically (musl-tools: musl-gcc for
# the crates with C code, such as ring).
if ! rustup target list --installed --toolchain stable | grep -qx "$MUSL_TARGET"; then
  echo "deps: adding the $MUSL_TARGET target to the stable toolchain"
  rustup target add --toolchain stable "$MUSL_TARGET"
fi

if ! bpf-linker --version 2>/dev/null | grep -q "$BPF_LINKER_VERSION"; then
  echo "deps: building bpf-linker $BPF_LINKER_VERSION against LLVM 22"
  PATH=/usr/lib/llvm-22/bin:$PATH cargo "+$EBPF_TOOLCHAIN" install bpf-linker \
    --version "$BPF_LINKER_VERSION" --no-default-features --features llvm-22 --locked
fi

if ! "$PY_VENV/bin/pip" show kubernetes-validate 2>/dev/null | grep -qx "Version: $KUBERNETES_VALIDATE_VERSION"; then
  echo "deps: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $PY_VENV"
  python3 -m venv "$PY_VENV"
  "$PY_VENV/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
# The Kubernetes control plane the lab runs, built once into a cache (cold: up to 18 min).
bash "$(dirname "$0")/k8s.sh" check || bash "$(dirname "$0")/k8s.sh"
echo "deps: all present"
