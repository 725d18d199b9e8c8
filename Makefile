# Weft: make deps | make build | make test | make lab | make bench | make image
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all deps build test lint lab bench image clean k8s-bin-dir

all: build

# Installs everything missing (apt packages, eBPF toolchain, bpf-linker, the
# lab's Kubernetes control plane: scripts/k8s.sh); fast when present.
deps:
	@bash scripts/deps.sh

# Where the lab finds kube-apiserver, etcd, kubectl and the rest (built by deps):
# $WEFT_K8S_BIN_DIR if set, else the cache directory of the pinned versions.
k8s-bin-dir:
	@bash scripts/k8s.sh bin-dir

build: deps
	$(CARGO) build --workspace --all-targets

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# `cargo test` as any user runs the tests that need no root and skips the
# rest (#[ignore = "needs root ..."]); here, as root, they all run, the root
# ones in network namespaces of their own.
test: build lint
	bash scripts/validate-manifests.sh
	$(CARGO) test --workspace -- --include-ignored

# Starts a 3-node lab (name: weft) and runs the demo; `weft-lab down` removes it.
lab: build
	bash lab/demo.sh

bench: deps
	$(CARGO) build --workspace --release
	$(CARGO) build --release -p weftd --example datapath_bench
	bash bench/run.sh cni weft-bench-cni
	bash bench/run.sh network weft-bench-net
	bash bench/run.sh convergence weft-bench-converge
	bash bench/run.sh policy weft-bench-policy
	bash bench/run.sh k8s-memory weft-bench-k8s-memory
	bash bench/run.sh datapath examples/datapath_bench
	$(CARGO) run --release -p weft-policy --example compile_bench

# The DaemonSet's image, built offline (nothing pulled) from
# manifests/Containerfile: FROM scratch with weft and weftd linked statically
# for musl, and the build machine's nft with the libraries it loads (weftd
# runs nft for its nftables table). Tagged weft:<workspace version> and saved
# as an OCI archive, target/weft-image.tar; push it to your registry and put
# that name in manifests/daemonset.yaml (README.md, "Installing on a kubeadm
# cluster").
MUSL_TARGET := x86_64-unknown-linux-musl
VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
IMAGE ?= weft:$(VERSION)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
IMAGE_CONTEXT := $(TARGET_DIR)/image-context
IMAGE_ARCHIVE := $(TARGET_DIR)/weft-image.tar

image: deps
	$(CARGO) build --release --target $(MUSL_TARGET) -p weft-cni -p weftd --bin weft --bin weftd
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)
	@for bin in weft weftd; do \
	  strip -o $(IMAGE_CONTEXT)/$$bin $(TARGET_DIR)/$(MUSL_TARGET)/release/$$bin || exit 1; \
	  kind=$$(file -b $(IMAGE_CONTEXT)/$$bin); linkage=$$(ldd $(IMAGE_CONTEXT)/$$bin 2>&1); \
	  echo "image: $$bin: $$kind; ldd: $$linkage"; \
	  if ! grep -Eq 'static-pie linked|statically linked' <<<"$$kind" || grep -q '=>' <<<"$$linkage"; then \
	    echo "image: $$bin is not static" >&2; exit 1; \
	  fi; \
	done
	@nft=$$(command -v nft || echo /usr/sbin/nft); \
	install -D -m 0755 "$$nft" $(IMAGE_CONTEXT)/nft/usr/sbin/nft; \
	for lib in $$(ldd "$$nft" | awk '$$2 == "=>" && $$3 ~ /^\// { print $$3 } $$1 ~ /^\// { print $$1 }'); do \
	  install -D -m 0755 "$$(readlink -f "$$lib")" $(IMAGE_CONTEXT)/nft$$lib || exit 1; \
	done; \
	echo "image: nft and its libraries:"; cd $(IMAGE_CONTEXT)/nft && find . -type f | sort | sed 's|^\.|  |'
	@previous=$$(podman image inspect --format '{{.Id}}' $(IMAGE) 2>/dev/null); \
	podman build --pull=never --layers=false --network none --build-arg VERSION=$(VERSION) \
	  -f manifests/Containerfile -t $(IMAGE) $(IMAGE_CONTEXT) || exit 1; \
	if [ -n "$$previous" ] && [ "$$previous" != "$$(podman image inspect --format '{{.Id}}' $(IMAGE))" ]; then \
	  podman rmi "$$previous" >/dev/null 2>&1 || true; \
	fi
	rm -f $(IMAGE_ARCHIVE)
	podman save --format oci-archive -o $(IMAGE_ARCHIVE) $(IMAGE)
	@echo "image: $(IMAGE) saved as $(IMAGE_ARCHIVE) ($$(du -h $(IMAGE_ARCHIVE) | cut -f1))"

clean:
	$(CARGO) clean
	rm -rf ebpf/programs/target
