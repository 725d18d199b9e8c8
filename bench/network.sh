#!/usr/bin/env bash
# Data-path benchmark: pod-to-pod against the underlay (cross-node, vxlan and
# direct mode) and weft against the bridge plugin (same node), measured side
# by side in one run and reported as ratios. Arguments go to the driver (see
# target/release/weft-bench-net --help). Prints the report and stores it in
# bench/results/network.md when the run succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
args=""
if (($#)); then args=$(printf ' %q' "$@"); fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
{
  echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start: \`make bench\` (\`bash bench/network.sh$args\`, which runs \`target/release/weft-bench-net$args\`)"
  echo
  target/release/weft-bench-net "$@"
} | tee "$report"
chmod 644 "$report"
mv "$report" bench/results/network.md
