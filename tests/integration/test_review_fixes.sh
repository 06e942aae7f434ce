# Regression tests for review findings, on one real simulated campaign:
# - busy time: `run` and `show` agree for a capacity-4 device (both count
#   step-seconds over capacity x span);
# - `status --watch` ends by showing the final state;
# - `archive` copies the hub consistently while the campaign writes (the copy
#   holds what was still in the WAL) and the copy reads as a hub;
# - `log` refuses an unknown device or experiment, and its lines carry dates
#   and units.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_lab "$T" "$PORT" 400   # steps of 0.15-1.5 s: messaging latency is small beside them
write_campaign "$T" "$PORT" 16 4
DB="$T/campaign.db"
L="$LABLOOP"

"$L" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$L" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 "$L" status "$T/campaign.yaml" || fail "the orchestrator never answered status"
"$L" status "$T/campaign.yaml" --watch >"$T/watch.txt" 2>"$T/watch.err" & WATCH=$!; PIDS+=($WATCH)

# ---- archive while the campaign runs
wait_until 30 q_atleast "select count(*) from experiments where status = 'measured'" 2 || fail "nothing measured"
archived=0
for i in 1 2 3; do
  kill -0 "$RUN" 2>/dev/null || break
  before=$(q "select max(id) from events")
  rm -f "$T/copy.db"
  "$L" archive "$DB" -o "$T/copy.db" >"$T/archive.txt" 2>&1 || fail "archive while running failed: $(cat "$T/archive.txt")"
  [ "$(sqlite3 "$T/copy.db" 'pragma integrity_check')" = ok ] || fail "the archive is not intact"
  [ ! -e "$T/copy.db-wal" ] || [ ! -s "$T/copy.db-wal" ] || fail "the archive left a WAL behind"
  got=$(sqlite3 "$T/copy.db" "select max(id) from events")
  [ "$got" -ge "$before" ] || fail "archive copy is stale: its last event is $got, the hub had $before before the copy"
  # One snapshot: every proposed experiment in the copy has its row.
  [ "$(sqlite3 "$T/copy.db" "select count(*) from experiments")" = "$(sqlite3 "$T/copy.db" "select count(*) from events where kind = 'experiment.proposed'")" ] \
    || fail "archive copy is not one snapshot (experiments and their events differ)"
  "$L" show "$T/copy.db" >/dev/null || fail "show cannot read the archive"
  archived=$((archived + 1))
  sleep 0.2
done
[ "$archived" -ge 1 ] || fail "the campaign ended before any archive was taken (too fast to test)"
grep -q "^archived .* campaign it " "$T/archive.txt" || fail "archive summary: $(cat "$T/archive.txt")"
set +e; "$L" archive "$DB" -o "$T/copy.db" 2>"$T/err.txt"; rc=$?; set -e
[ $rc = 1 ] && grep -q "exists" "$T/err.txt" || fail "archive over an existing file: exit $rc, $(cat "$T/err.txt")"
set +e; "$L" archive "$DB" 2>"$T/err.txt"; rc=$?; set -e
[ $rc = 2 ] || fail "archive without -o: exit $rc"
pass "archive: $archived consistent copies taken while the campaign ran, each holding the WAL's rows"

wait "$RUN" || fail "labloop run exited $?"
check_hub_complete 16

# ---- status --watch ends with the final state
end=$(( $(date +%s) + 15 ))
while kill -0 "$WATCH" 2>/dev/null; do
  [ "$(date +%s)" -lt "$end" ] || fail "status --watch did not end after the campaign"
  sleep 0.1
done
wait "$WATCH" || fail "status --watch exited $?: $(cat "$T/watch.err")"
tail -c 2000 "$T/watch.txt" | grep -q "campaign it: completed — 16/16 experiments done" \
  || fail "status --watch did not end with the final state: $(tail -c 600 "$T/watch.txt"; cat "$T/watch.err")"
pass "status --watch ends by showing the completed campaign"

# ---- busy time: the same definition in run and show
"$L" show "$DB" >"$T/show.txt"
for dev in ot2 hotplate pl-1; do
  r=$(sed -n "s/^device $dev .*(\s*\([0-9.]*\) %)$/\1/p" "$T/run.log")
  s=$(sed -n "s/^  $dev .* busy .* s \s*\([0-9.]*\) %.*/\1/p" "$T/show.txt")
  [ -n "$r" ] && [ -n "$s" ] || fail "no busy figure for $dev: run '$r', show '$s'"
  python3 -c "import sys; r, s = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(r - s) > 12)" "$r" "$s" \
    || fail "$dev: run says $r % busy, show $s % (different definitions?)"
  echo "  $dev: run $r %, show $s %"
done
pass "busy time: run and show agree per device (capacity 4 included)"

# ---- log: unknown filters are errors; dates and units on every line
set +e
"$L" log "$DB" --device no-such-dev >"$T/out.txt" 2>"$T/err.txt"; rc=$?
[ $rc = 1 ] && grep -q "no device 'no-such-dev'" "$T/err.txt" && [ ! -s "$T/out.txt" ] || fail "log --device unknown: exit $rc, $(cat "$T/err.txt")"
"$L" log "$DB" --experiment 999 >"$T/out.txt" 2>"$T/err.txt"; rc=$?
[ $rc = 1 ] && grep -q "no experiment 999 (it has 1 to 16)" "$T/err.txt" || fail "log --experiment 999: exit $rc, $(cat "$T/err.txt")"
set -e
"$L" log "$DB" --device hotplate >/dev/null || fail "log --device of a known device failed"
"$L" log "$DB" >"$T/log.txt"
[ "$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{4}  ' "$T/log.txt")" = 0 ] \
  || fail "log lines without a date: $(grep -vE '^[0-9]{4}-' "$T/log.txt" | head -2)"
grep "experiment 1 proposed" "$T/log.txt" | grep -qE "temperature=[0-9.e+-]+ degC .*time=[0-9.e+-]+ s( |$)" \
  || fail "proposed line without units: $(grep 'experiment 1 proposed' "$T/log.txt")"
pass "log: unknown device or experiment exits 1 and says which; lines carry dates and units"

# ---- the simulated lab's truth, named as the campaign's objective, with units
"$L" sim "$T/lab.yaml" --truth --campaign "$T/campaign.yaml" >"$T/truth.txt" || fail "sim --truth failed"
grep -qE "^true optimum of nanocrystal_pl: plqy = [0-9.]+ \(model output quantum_yield\) at .*temperature=[0-9.]+ degC time=[0-9.]+ s " "$T/truth.txt" \
  || fail "sim --truth does not name the objective with units: $(cat "$T/truth.txt")"
grep -qE "^best plqy = [0-9.]+ at experiment" "$T/run.log" || fail "run's summary does not name the objective"
pass "demo summary: the objective's name (not the model output) and units"
