# Killing a device worker mid-step does not crash the orchestrator: the
# device is marked lost, its step is retried once the device has stayed
# away past its liveness window, and a restarted worker rejoins.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=300s write_lab "$T" "$PORT" 300     # 1 s per dispense: easy to catch mid-step
write_campaign "$T" "$PORT" 8 2
DB="$T/campaign.db"

"$LABLOOP" sim "$T/lab.yaml" --no-restart >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)

ot2_pid() { pgrep -f -- "sim $T/lab.yaml --device ot2" | head -1; }
# Wait until ot2 is in the middle of its second dispense, then kill it hard.
wait_until 30 q_is "select count(*) from steps where device='ot2' and status='dispatched' and attempt_id like 'it/2/%'" 1 \
  || fail "ot2 never got experiment 2's dispense"
victim=$(ot2_pid); [ -n "$victim" ] || fail "no ot2 worker process"
kill -KILL "$victim"
pass "killed ot2 (pid $victim) during experiment 2's dispense"

wait_until 15 q_atleast "select count(*) from events where kind='device.lost' and subject='ot2'" 1 \
  || fail "orchestrator did not mark ot2 lost"
kill -0 "$RUN" 2>/dev/null || fail "orchestrator died after losing a worker"
# The attempt may still run on a device that is only unreachable: it ends
# lost once the device has stayed away for another liveness window.
wait_until 5 q_is "select status from steps where attempt_id='it/2/dispense/1'" lost || fail "the running attempt was not marked lost: $(q "select status from steps where attempt_id='it/2/dispense/1'")"
[ "$(q "select count(*) from events where kind='step.retry' and json_extract(detail,'$.experiment')=2")" -ge 1 ] || fail "no retry planned for the lost step"
pass "ot2 marked lost, its attempt lost, a retry planned"

"$LABLOOP" sim "$T/lab.yaml" --device ot2 >"$T/ot2-again.log" 2>&1 & PIDS+=($!)
wait "$RUN" || fail "labloop run exited $? after the worker came back"
[ "$(q "select count(*) from events where kind='device.ready' and subject='ot2'")" -ge 2 ] || fail "ot2 did not rejoin"
[ "$(q "select status from steps where attempt_id='it/2/dispense/2'")" = done ] || fail "the retry did not run: $(q "select attempt_id, status from steps where experiment=2")"
check_hub_complete 8
pass "restarted ot2 rejoined; the retry ran; the campaign completed with nothing lost"
