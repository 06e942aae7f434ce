# A commit that fails mid-campaign loses nothing: a trigger put into the hub
# makes the batch that records a measured experiment fail; the orchestrator
# stops with the hub's error and acknowledges none of that batch's results,
# so the workers keep them. Once the trigger is gone, a restart resumes the
# campaign, the workers' re-sent results are accepted once, and it completes
# with no step run twice (checked in the hub and on the samples).
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=30s write_lab "$T" "$PORT" 120
RETRIES=0 write_campaign "$T" "$PORT" 12 3
DB="$T/campaign.db"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)

run_bg
wait_until 30 q_atleast "select count(*) from experiments where status = 'measured'" 2 || fail "campaign did not get going"
sqlite3 -batch -cmd ".timeout 5000" "$DB" "CREATE TRIGGER injected_failure BEFORE UPDATE OF status ON experiments
  WHEN NEW.status = 'measured' BEGIN SELECT RAISE(ABORT, 'injected hub failure'); END;" || fail "could not add the trigger"
measured=$(q "select count(*) from experiments where status = 'measured'")
rc=0; wait "$RUN" || rc=$?
[ "$rc" != 0 ] || fail "labloop run exited 0 after a failed commit"
grep -q "injected hub failure" "$T/run.log" || fail "the hub's error is not reported"
grep -q "stopping without acknowledging" "$T/run.log" || fail "no word that nothing more was acknowledged"
[ "$(q "select count(*) from experiments where status = 'measured'")" = "$measured" ] || fail "a measured experiment was recorded despite the failure"
[ "$(q "select status from campaigns")" = running ] || fail "campaign is $(q 'select status from campaigns') after the failure"
pass "a failing commit stops the campaign with the hub's error ($measured measured, exit $rc)"

sqlite3 -batch -cmd ".timeout 5000" "$DB" "DROP TRIGGER injected_failure" || fail "could not drop the trigger"
run_bg
wait "$RUN" || fail "labloop run exited $? after the restart"
check_hub_complete 12
for f in "$T"/samples/*.sample; do
  d=$(grep -c '^# dispense ' "$f"); h=$(grep -c '^# heat ' "$f")
  [ "$d" -le 1 ] && [ "$h" -le 1 ] || fail "$(basename "$f"): dispensed $d and heated $h times"
done
pass "after the restart the campaign completed: 12 experiments, no step run twice"

# A commit that fails after a step request went out: the request is sent
# before the commit that records its attempt, so the restarted orchestrator
# does not know that attempt. The worker's result for it is held, not
# acknowledged and dropped; the step is dispatched again under the same id,
# to the same device, which answers with the stored result: the sample is
# dispensed once, and the hub records that attempt once.
kill -TERM "${PIDS[@]}" 2>/dev/null || true
wait 2>/dev/null || true
T=$IT_DIR/lost-dispatch; mkdir -p "$T"
PORT=$(free_port)
DISPENSE=30s write_lab "$T" "$PORT" 120
RETRIES=0 write_campaign "$T" "$PORT" 6 2
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
run_bg
wait_until 30 q_atleast "select count(*) from steps where status = 'done'" 1 || fail "campaign did not get going"
sqlite3 -batch -cmd ".timeout 5000" "$DB" "CREATE TRIGGER injected_failure BEFORE INSERT ON steps
  WHEN NEW.experiment = 4 AND NEW.step = 'dispense' BEGIN SELECT RAISE(ABORT, 'injected hub failure'); END;" \
  || fail "could not add the trigger"
rc=0; wait "$RUN" || rc=$?
[ "$rc" != 0 ] || fail "labloop run exited 0 after a failed commit"
grep -q "injected hub failure" "$T/run.log" || fail "the hub's error is not reported"
[ "$(q "select count(*) from steps where experiment = 4")" = 0 ] || fail "experiment 4's dispense is in the hub"
wait_until 10 grep -q '^# dispense ' "$T/samples/it_4.sample" || fail "experiment 4's dispense was never sent: $(ls "$T/samples")"
pass "a failed commit left experiment 4's dispense unrecorded while ot2 ran it"

sqlite3 -batch -cmd ".timeout 5000" "$DB" "DROP TRIGGER injected_failure" || fail "could not drop the trigger"
run_bg
wait "$RUN" || fail "labloop run exited $? after the restart"
check_hub_complete 6
[ "$(q "select count(*) from steps where experiment = 4 and step = 'dispense'")" = 1 ] || fail "experiment 4's dispense: $(q "select attempt_id || ' ' || status from steps where experiment = 4")"
for f in "$T"/samples/*.sample; do
  d=$(grep -c '^# dispense ' "$f"); h=$(grep -c '^# heat ' "$f")
  [ "$d" -le 1 ] && [ "$h" -le 1 ] || fail "$(basename "$f"): dispensed $d and heated $h times"
done
grep -q "holds a .* for it/4/dispense/1 that the hub does not know" "$T/run.log" || fail "the unknown attempt was not held"
pass "the unrecorded attempt's result was held and answered its re-dispatch: every sample dispensed once"
