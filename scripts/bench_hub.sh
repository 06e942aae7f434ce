#!/usr/bin/env bash
# The shared PostgreSQL hub at scale (`make bench-hub`, also part of `make
# bench`): BENCH_HUB_RECORDS records (default 1,000,000: a year of a data
# core hub's intake) from 6 simulated labs, each lab's SQLite hub written by
# the real writer (tests/tools/hubgen.c, 20 campaigns a lab, every table
# filled as the orchestrator fills it), pushed by 6 concurrent
# `labloop hub push` into one PostgreSQL 15 server started for the run.
# Prints the total push time, records per second, the hub's size, and the
# time of `show` and `log --experiment N` against the hub beside the same
# commands on the lab's own SQLite file (the reference, same run). Asserts
# nothing about time. Usage: scripts/bench_hub.sh /path/to/labloop
set -euo pipefail
cd "$(dirname "$0")/.."
LABLOOP=$(realpath "${1:-build/labloop}")
BUILD_DIR=$(dirname "$LABLOOP")
TOOLS=${TOOLS:-$BUILD_DIR/tools}
[ -x "$TOOLS/hubgen" ] || make -s BUILD="$BUILD_DIR" "$TOOLS/hubgen" >/dev/null
source tests/integration/lib.sh
source tests/integration/pg.sh

records=${BENCH_HUB_RECORDS:-1000000}
labs=6 campaigns=20
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# median_ms CMD...: median wall time of 5 runs of CMD (output discarded).
median_ms() {
  local t0 times=()
  for _ in 1 2 3 4 5; do
    t0=$(now_ms); "$@" >/dev/null; times+=($(( $(now_ms) - t0 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

pg_start
# hubgen writes about 2 records (rows of any table) per event with --rows.
events=$(( records / labs / 2 ))
t0=$(now_ms)
for i in $(seq 1 $labs); do   # two at a time
  "$TOOLS/hubgen" "$T/lab$i.db" "$events" --campaigns $campaigns --rows --name "lab$i" --access open >/dev/null &
  [ $((i % 2)) = 0 ] && wait
done
wait
src=0
for i in $(seq 1 $labs); do
  for t in campaigns devices experiments steps samples artifacts sample_locations events audit; do
    src=$(( src + $(sqlite3 -readonly "$T/lab$i.db" "select count(*) from $t") ))
  done
done
echo "hub: wrote $labs lab hubs ($src records, $campaigns campaigns each) in $(( $(now_ms) - t0 )) ms"

t0=$(now_ms)
pids=()
for i in $(seq 1 $labs); do
  "$LABLOOP" hub push "$T/lab$i.db" --to "$PGURL" --lab "lab-$i" >"$T/push$i.log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat "$T"/push*.log >&2; fail "a push failed"; }; done
ms=$(( $(now_ms) - t0 ))
dst=0
for t in campaigns devices experiments steps samples artifacts sample_locations events audit; do
  dst=$(( dst + $(psql_q "select count(*) from labloop.$t") ))
done
[ "$dst" = "$src" ] || fail "the hub has $dst records, the labs $src"
size=$(psql_q "select pg_size_pretty(pg_database_size(current_database()))")
echo "hub: pushed $dst records from $labs labs concurrently in $ms ms" \
     "($(( dst * 1000 / (ms > 0 ? ms : 1) )) records/s; goal: 1,000,000 in < 600 s); hub size $size"

one="lab-3"; camp="lab3-7"; n=$(( events / campaigns / 8 / 2 ))
show_pg=$(median_ms "$LABLOOP" show "$PGURL" --lab "$one" --campaign "$camp")
show_file=$(median_ms "$LABLOOP" show "$T/lab3.db" --campaign "$camp")
log_pg=$(median_ms "$LABLOOP" log "$PGURL" --lab "$one" --campaign "$camp" --experiment "$n")
log_file=$(median_ms "$LABLOOP" log "$T/lab3.db" --campaign "$camp" --experiment "$n")
rows=$("$LABLOOP" show "$PGURL" --lab "$one" --campaign "$camp" | sed -n 's/^experiments: \([0-9]*\).*/\1/p')
echo "hub: show of one campaign ($rows experiments) from the PostgreSQL hub: median $show_pg ms" \
     "(goal < 200 ms; the lab's SQLite file: $show_file ms)"
echo "hub: log --experiment $n of that campaign from the PostgreSQL hub: median $log_pg ms" \
     "(the lab's SQLite file: $log_file ms)"
