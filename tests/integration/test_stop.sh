# Stop conditions: an objective target ends the campaign 'completed' early
# (experiments not yet started are cancelled, none is left running); a
# wall-clock budget ends it 'exhausted'. Checked in the hub.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=300s write_lab "$T" "$PORT" 600      # ot2 is the bottleneck: experiments queue for it
write_campaign "$T" "$PORT" 60 3
sed -i 's/campaign: {name: it, seed: \([0-9]*\), budget: {experiments: 60}}/campaign: {name: it, seed: \1, budget: {experiments: 60}, stop_when: {objective: plqy, at_least: 0.3}}/' "$T/campaign.yaml"
grep -q "stop_when" "$T/campaign.yaml" || fail "test setup: no stop_when"
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
grep -q "target reached: plqy" "$T/run.log" || fail "the summary does not say the target was reached"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign is $(q 'select status from campaigns')"
n=$(q "select count(*) from experiments")
[ "$n" -lt 60 ] || fail "the target did not stop the campaign early ($n experiments)"
[ "$(q "select count(*) from experiments where status='measured' and json_extract(objectives,'$.plqy') >= 0.3")" -ge 1 ] || fail "no experiment reached the target"
[ "$(q "select count(*) from experiments where status not in ('measured','failed','cancelled')")" = 0 ] || fail "experiments left running"
[ "$(q "select count(*) from experiments where status='cancelled'")" -ge 1 ] || fail "no queued experiment was cancelled (random/sobol propose a batch ahead)"
[ "$(q "select count(*) from experiments e where status='cancelled' and exists (select 1 from steps s where s.experiment=e.seq)")" = 0 ] \
  || fail "an experiment that had started was cancelled instead of finishing"
[ "$(q "select count(*) from steps where status='dispatched'")" = 0 ] || fail "steps left running"
pass "target reached after $n of 60 experiments: completed; unstarted ones cancelled ($(q "select count(*) from experiments where status='cancelled'"))"

# Wall-clock budget: 0.001 h = 3.6 s on a slow lab.
PORT=$(free_port)
DISPENSE=120s write_lab "$T" "$PORT" 60
write_campaign "$T" "$PORT" 500 2
sed -i 's/budget: {experiments: 500}/budget: {experiments: 500, hours: 0.001}/' "$T/campaign.yaml"
DB="$T/exhausted.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim2.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" --db "$DB" >"$T/run2.log" 2>&1 || fail "labloop run exited $?"
grep -q "time budget of 0.001 h spent" "$T/run2.log" || fail "the summary does not name the time budget"
[ "$(q "select status from campaigns")" = exhausted ] || fail "campaign is $(q 'select status from campaigns')"
[ "$(q "select count(*) from experiments where status not in ('measured','failed','cancelled')")" = 0 ] || fail "experiments left running"
pass "time budget spent: exhausted after $(q "select count(*) from experiments where status='measured'") measured experiments"

# The time budget counts from the campaign's creation, across a restart.
PORT=$(free_port)
DISPENSE=120s write_lab "$T" "$PORT" 60
write_campaign "$T" "$PORT" 500 2
sed -i 's/budget: {experiments: 500}/budget: {experiments: 500, hours: 0.002}/' "$T/campaign.yaml"   # 7.2 s
DB="$T/restarted.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim3.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" --db "$DB" >"$T/run3.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 q_atleast "select count(*) from steps where status='done'" 2 || fail "the campaign did not get going"
kill -TERM "$RUN"; wait "$RUN" || true
"$LABLOOP" run "$T/campaign.yaml" --db "$DB" >>"$T/run3.log" 2>&1 || fail "the resumed run exited $?"
[ "$(q "select status from campaigns")" = exhausted ] || fail "campaign is $(q 'select status from campaigns')"
[ "$(q "select count(*) from events where kind='campaign.resumed'")" = 1 ] || fail "the second run did not resume"
# Nothing new is proposed once the budget is spent (steps under way finish).
last=$(q "select (max(e.proposed_us) - c.created_us) / 1000 from experiments e, campaigns c")
echo "last proposal at $last ms after creation (budget 7200 ms)"
[ "$last" -lt 7700 ] || fail "experiments were proposed after the budget counted from creation ($last ms)"
pass "time budget counted from creation across a restart (last proposal at $last ms of 7200)"
