#!/usr/bin/env bash
# Runs one benchmark driver of target/release and stores its Markdown report
# in bench/results/NAME.md when the run succeeds (and prints it):
#   bash bench/run.sh NAME DRIVER [ARGS...]
# cni          weft-bench-cni       weft + weftd against bridge + host-local; ADD with 10,000 pods
#                                   and 1,000 policies in the datastore against an empty one
# network      weft-bench-net       pod paths against the underlay and the bridge plugin
# convergence  weft-bench-converge  1000 nodes appear in one datastore write
# policy       weft-bench-policy    NetworkPolicy at 100-10,000 rules against none and iptables+ipset; apply to enforcement
# k8s-memory   weft-bench-k8s-memory  weftd's RSS with 10,000 pods, 1,000 policies and 100 nodes in the API server
# datapath     examples/datapath_bench  the TC programs per packet (BPF_PROG_TEST_RUN): new and
#                                   established flows with 0 and 10,000 more policy entries
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 driver=$2
shift 2
mkdir -p bench/results
args=""
if (($#)); then args=$(printf ' %q' "$@"); fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
{
  echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start: \`make bench\` (\`target/release/$driver$args\`)"
  echo
  "target/release/$driver" "$@"
} | tee "$report"
chmod 644 "$report"
mv "$report" "bench/results/$name.md"
