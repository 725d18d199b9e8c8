#!/usr/bin/env bash
# Convergence benchmark: one weftd sees 1000 nodes appear in one datastore
# write; the time until their routes, neighbours and FDB entries are
# programmed, and weftd's peak RSS. Arguments go to the driver (see
# target/release/weft-bench-converge --help). Prints the report and stores
# it in bench/results/convergence.md when the run succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
args=""
if (($#)); then args=$(printf ' %q' "$@"); fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
{
  echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start: \`make bench\` (\`bash bench/convergence.sh$args\`, which runs \`target/release/weft-bench-converge$args\`)"
  echo
  target/release/weft-bench-converge "$@"
} | tee "$report"
chmod 644 "$report"
mv "$report" bench/results/convergence.md
