#!/bin/bash
# The main job of an older commit against this checkout's, alternating, on the same
# workload and in the same minutes (the shared machine's speed drifts, so two runs an
# hour apart cannot be compared).
#
# Usage: benchmarks/ab_main_job.sh OLD_COMMIT [KOMMUN_DIR] [ROUNDS]
#   KOMMUN_DIR: a municipality folder (default /tmp/uabench/w/kommun, written by
#               `benchmarks/run.py --stages generera --workdir /tmp/uabench/w --keep`)
#   ROUNDS:     how many times each is run (default 2)
# Prints one line per run: the tree and the seconds of the whole CLI command.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
old="$1"
kommun="${2:-/tmp/uabench/w/kommun}"
rounds="${3:-2}"
tree="$(mktemp -d)/old"
out="$(mktemp -d)"
git -C "$here" worktree add -q --detach "$tree" "$old"
trap 'git -C "$here" worktree remove --force "$tree"; rm -rf "$out"' EXIT
for _ in $(seq "$rounds"); do
  for t in "$tree" "$here"; do
    rm -rf "$out/ut"
    start=$(date +%s.%N)
    "$here/.venv/bin/python" -c "
import sys
sys.path.insert(0, '$t')
import undervisning_analys
assert undervisning_analys.__file__.startswith('$t'), undervisning_analys.__file__
from undervisning_analys.cli import main
sys.exit(main(['rapporter', '$kommun', '--ut', '$out/ut']))" > /dev/null 2>&1
    end=$(date +%s.%N)
    echo "$t $(python3 -c "print(round($end - $start, 1))")"
  done
done
