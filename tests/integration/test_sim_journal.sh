# The simulated lab's journal (lab: {journal: FILE}), which the torture suite
# checks labloop against: every device notes each step it executes before
# acting, and the line is there even when the worker is SIGKILLed mid-step.
# A journal that cannot be opened stops the device with the path in the
# error; without the key nothing is written.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=30s write_lab "$T" "$PORT" 120
sed -i "s|seed: 3}|seed: 3, journal: \"$T/journal.tsv\"}|" "$T/lab.yaml"
grep -q "journal: \"$T/journal.tsv\"" "$T/lab.yaml" || fail "could not add the journal to the lab file"
RETRIES=0 write_campaign "$T" "$PORT" 4 2
DB="$T/campaign.db"

# journal_has KIND ATTEMPT: a line of that kind for that attempt
journal_has() { awk -F'\t' -v k="$1" -v a="$2" '$1 == k && $2 == a { f = 1 } END { exit !f }' "$T/journal.tsv"; }

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & SIM=$!; PIDS+=($SIM)
run_bg
wait "$RUN" || fail "labloop run exited $?"
check_hub_complete 4
for d in ot2 hotplate pl-1; do
  awk -F'\t' -v d="$d" '$1 == "boot" && $5 == d' "$T/journal.tsv" | grep -q . || fail "no boot line for $d"
done
# no fault: every attempt in the hub ran, done or failed by the instrument
for a in $(q "select attempt_id from steps"); do
  [ "$(awk -F'\t' -v a="$a" '$1 == "start" && $2 == a' "$T/journal.tsv" | wc -l)" = 1 ] || fail "$a: not exactly one start line"
  journal_has end "$a" || fail "$a: no end line"
done
[ "$(awk -F'\t' '$1 == "start"' "$T/journal.tsv" | wc -l)" = "$(q "select count(*) from steps")" ] \
  || fail "the journal has starts the hub does not have"
awk -F'\t' '$1 == "start" && (NF != 7 || $3 != "it/" substr($2, 4, index(substr($2, 4), "/") - 1))' "$T/journal.tsv" | grep -q . \
  && fail "a start line is not ATTEMPT EXPERIMENT STEP DEVICE PID TIME"
pass "a finished campaign: one start and one end line per executed attempt, a boot line per device"

# A worker killed mid-step leaves its start line (written before acting).
kill -TERM "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true
rm -f "$DB" "$T/journal.tsv"; rm -rf "$T/samples"
DISPENSE=3600s write_lab "$T" "$PORT" 120
sed -i "s|seed: 3}|seed: 3, journal: \"$T/journal.tsv\"}|" "$T/lab.yaml"
"$LABLOOP" sim "$T/lab.yaml" --no-restart >"$T/sim2.log" 2>&1 & SIM=$!; PIDS+=($SIM)
run_bg
wait_until 30 q_atleast "select count(*) from steps where step = 'dispense' and status in ('dispatched', 'running')" 1 \
  || fail "no dispense in flight"
att=$(q "select attempt_id from steps where step = 'dispense' and status in ('dispatched', 'running') limit 1")
wait_until 10 journal_has start "$att" || fail "$att is in flight but not in the journal"
pid=$(awk -F'\t' -v a="$att" '$1 == "start" && $2 == a { print $6 }' "$T/journal.tsv")
kill -KILL "$pid" || fail "no worker process $pid"
journal_has end "$att" && fail "$att has an end line although its worker was killed"
pass "a worker SIGKILLed mid-step: its start line is there, with no end"
kill -TERM "$RUN" 2>/dev/null || true; wait "$RUN" 2>/dev/null || true
kill -TERM "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true

# A journal in a missing directory stops the device with the path named.
sed -i "s|journal: \"$T/journal.tsv\"|journal: \"$T/missing/journal.tsv\"|" "$T/lab.yaml"
rc=0; out=$("$LABLOOP" sim "$T/lab.yaml" --device ot2 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "a device with an unusable journal started"
echo "$out" | grep -q "$T/missing/journal.tsv" || fail "the error does not name the journal: $out"
pass "an unusable journal stops the device with its path in the error"
