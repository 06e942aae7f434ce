#!/usr/bin/env bash
# Run libFuzzer harnesses: scripts/fuzz.sh BUILD_DIR TARGET...
# Each BUILD_DIR/fuzz_TARGET runs for FUZZ_SECONDS (default 300), FUZZ_JOBS
# (default 1) at a time, from a copy of its seed corpus tests/fuzz/corpus/TARGET
# (new inputs go to BUILD_DIR/corpus/TARGET, never into the repository).
# A crash, leak, sanitizer report or timeout leaves its input in
# BUILD_DIR/crashes/ and fails the run. Prints the executions per target.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
secs=${FUZZ_SECONDS:-300}
jobs=${FUZZ_JOBS:-1}
mkdir -p "$dir/crashes" "$dir/logs"

run_one() {
  local t=$1 work="$dir/corpus/$1"
  mkdir -p "$work"
  cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  "$dir/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$dir/crashes/$t-" "$work" >"$dir/logs/$t.log" 2>&1
  echo $? >"$dir/logs/$t.rc"
}

echo "fuzz: ${#} targets, ${secs} s each, ${jobs} at a time"
running=0
for t in "$@"; do
  [ -x "$dir/fuzz_$t" ] || { echo "fuzz: $dir/fuzz_$t is not built (make fuzz-build)" >&2; exit 2; }
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

bad=0
printf '%-16s %14s %10s %8s  %s\n' target executions exec/s corpus result
for t in "$@"; do
  log="$dir/logs/$t.log"
  rc=$(cat "$dir/logs/$t.rc" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(ls "$dir/corpus/$t" | wc -l)
  if [ "$rc" = 0 ]; then res=ok; else res="FAILED (exit $rc)"; bad=1; fi
  printf '%-16s %14s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$res"
  echo "figure: fuzz $t: ${execs:-?} executions in $secs s (${rate:-?}/s)"
  if [ "$rc" != 0 ]; then
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -8 | sed 's/^/    | /'
  fi
done
[ "$bad" = 0 ] || { echo "fuzz: a target failed; its input is in $dir/crashes/ (reproduce: $dir/fuzz_TARGET FILE)" >&2; exit 1; }
echo "fuzz: all targets ran clean"
