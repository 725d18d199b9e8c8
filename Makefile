# Weft: make deps | make build | make test | make lab | make bench
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all deps build test lint lab bench clean k8s-bin-dir

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
	$(CARGO) test --workspace -- --include-ignored

# Starts a 3-node lab (name: weft) and runs the demo; `weft-lab down` removes it.
lab: build
	bash lab/demo.sh

bench: deps
	$(CARGO) build --workspace --release
	bash bench/run.sh cni weft-bench-cni
	bash bench/run.sh network weft-bench-net
	bash bench/run.sh convergence weft-bench-converge
	bash bench/run.sh policy weft-bench-policy
	$(CARGO) run --release -p weft-policy --example compile_bench

clean:
	$(CARGO) clean
	rm -rf ebpf/programs/target
