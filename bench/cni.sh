#!/usr/bin/env bash
# CNI plugin benchmark: weft + weftd against bridge + host-local, one run,
# same machine. Prints the report and stores it in bench/results/cni.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
{
  echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r): \`make bench\` (target/release/weft-bench-cni)"
  echo
  target/release/weft-bench-cni
} | tee bench/results/cni.md
