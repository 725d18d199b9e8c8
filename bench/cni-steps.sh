#!/usr/bin/env bash
# CNI ADD and DEL step by step (BENCHMARKS.md): runs `weft-bench-cni --part
# plugins` with target/release/weft wrapped so that each call logs when it
# was exec'd and then runs the plugin with RUST_LOG=info, whose log lines
# (microsecond timestamps) mark its steps. Prints the median of each step
# over the first 100 ADDs and 100 DELs (the sequential ones). The wrapper's
# bash adds to "exec to start". The plugin is restored afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=target/release/weft
work=$(mktemp -d)
cp "$plugin" "$work/weft"
trap 'cp "$work/weft" "$plugin"; rm -rf "$work"' EXIT
cat > "$plugin" <<WRAPPER
#!/bin/bash
echo "EXEC \$CNI_COMMAND \$EPOCHREALTIME" >> $work/log
RUST_LOG=info NO_COLOR=1 exec $work/weft "\$@" 2>> $work/log
WRAPPER
chmod +x "$plugin"
if ! target/release/weft-bench-cni --part plugins > "$work/bench.out" 2>&1; then
  cat "$work/bench.out" >&2
  exit 1
fi
awk -f bench/cni-steps.awk "$work/log"
