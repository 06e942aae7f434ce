#!/usr/bin/env bash
# `make bench`: labloop's benchmarks. Each section prints figures and asserts
# nothing about wall-clock time. Usage: scripts/bench.sh /path/to/labloop
# Sections are independent; add yours below the others.
set -euo pipefail
cd "$(dirname "$0")/.."
LABLOOP=${1:-build/labloop}
BUILD_DIR=$(dirname "$LABLOOP")
TOOLS=${TOOLS:-$BUILD_DIR/tools}
BENCH_TMP=$(mktemp -d /tmp/labloop-bench.XXXXXX)
trap 'rm -rf "$BENCH_TMP"' EXIT

# now_ms: wall clock in milliseconds (for figures only).
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- review: `labloop log --experiment N` on a hub with 1,000,000 events ----
# The hub is written through the real writer (tests/tools/hubgen.c: 8 events
# per experiment, as the orchestrator writes them); the figure is the whole
# command (process start, open, query, print), median of 5 runs.
bench_log_experiment() {
  local events=${BENCH_EVENTS:-1000000} db="$BENCH_TMP/big.db"
  [ -x "$TOOLS/hubgen" ] || make -s BUILD="$BUILD_DIR" "$TOOLS/hubgen" >/dev/null
  local t0 t1; t0=$(now_ms)
  "$TOOLS/hubgen" "$db" "$events" >/dev/null
  t1=$(now_ms)
  echo "review: wrote a hub with $events events in $((t1 - t0)) ms ($(du -h "$db" | cut -f1))"
  local n=$(( events / 8 / 2 )) times=() lines
  for _ in 1 2 3 4 5; do
    t0=$(now_ms)
    lines=$("$LABLOOP" log "$db" --experiment "$n" | wc -l)
    t1=$(now_ms)
    times+=($((t1 - t0)))
  done
  local sorted; sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
  echo "review: labloop log --experiment $n on $events events: $lines lines;" \
       "median $(echo "$sorted" | cut -d' ' -f3) ms (runs: $sorted ms; target < 100 ms)"
}
bench_log_experiment

# ---- planner: quality (median simple regret over seeds 0-9) and time per ask ----
# Targets (issue 3): gp branin budget 30 <= 5e-4, hartmann6 budget 60 <= 0.10.
bench_planner_quality() {
  local planner
  for planner in gp random; do
    "$LABLOOP" bench planner --func branin --budget 30 --seeds 10 --planner "$planner" | tail -n 1
    "$LABLOOP" bench planner --func hartmann6 --budget 60 --seeds 10 --planner "$planner" | tail -n 1
  done
}
bench_planner_quality

# ---- planner: one gp proposal, d = 6, at n = 100 / 300 / 1000 observations ----
# Targets: <= 50 ms at n = 100, <= 2 s at n = 1000 with a full refit.
bench_planner_timing() {
  "$LABLOOP" bench planner --timing
}
bench_planner_timing
