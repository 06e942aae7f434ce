# The orchestrator is stopped mid-campaign (SIGTERM, then SIGKILL) and
# restarted on the same hub: the campaign resumes and completes, no
# experiment is lost, and no finished step runs twice (checked in the hub
# and on the simulated samples themselves).
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=30s write_lab "$T" "$PORT" 120
RETRIES=0 write_campaign "$T" "$PORT" 16 3
DB="$T/campaign.db"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)

run_bg
wait_until 30 q_atleast "select count(*) from experiments where status in ('measured','failed')" 3 || fail "campaign did not get going"
wait_until 10 q_atleast "select count(*) from steps where status='dispatched'" 1 || fail "no step in flight"
kill -TERM "$RUN"; wait "$RUN" && true
[ "$(q "select status from campaigns")" = running ] || fail "after SIGTERM the campaign is $(q 'select status from campaigns')"
before=$(q "select count(*) from experiments")
pass "SIGTERM with steps in flight: campaign left resumable ($before experiments)"

run_bg
grep -q "resuming campaign it" "$T/run.log" || wait_until 5 grep -q "resuming campaign it" "$T/run.log" || fail "run did not say it resumes"
wait_until 30 q_atleast "select count(*) from experiments where status in ('measured','failed')" 9 || fail "resumed campaign made no progress"
wait_until 10 q_atleast "select count(*) from steps where status='dispatched'" 1 || fail "no step in flight"
kill -KILL "$RUN"; wait "$RUN" 2>/dev/null || true
pass "resumed after SIGTERM, then killed with SIGKILL with steps in flight"

run_bg
wait "$RUN" || fail "labloop run exited $? after the SIGKILL restart"
[ "$(q "select count(*) from events where kind='campaign.resumed'")" = 2 ] || fail "expected two resumes"
check_hub_complete 16
# On the samples themselves: each measured experiment was dispensed and
# heated exactly once (no retries are configured, no device fails).
for f in "$T"/samples/*.sample; do
  d=$(grep -c '^# dispense ' "$f"); h=$(grep -c '^# heat ' "$f")
  [ "$d" -le 1 ] && [ "$h" -le 1 ] || fail "$(basename "$f"): dispensed $d and heated $h times"
done
[ "$(ls "$T"/samples/*.sample | wc -l)" -ge 16 ] || fail "fewer samples than experiments"
pass "campaign completed after two restarts: 16 experiments, no step run twice"
