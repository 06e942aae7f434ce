# A worker that freezes (SIGSTOP, like a hung host or a network partition)
# is marked lost; when it thaws it registers again on its own and the
# campaign completes without a step finishing twice.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_lab "$T" "$PORT" 600
write_campaign "$T" "$PORT" 8 2
DB="$T/campaign.db"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 q_atleast "select count(*) from experiments where status in ('measured','failed')" 2 \
  || fail "the campaign did not get going"
pl=$(pgrep -f -- "sim $T/lab.yaml --device pl-1" | head -1); [ -n "$pl" ] || fail "no pl-1 worker"
kill -STOP "$pl"
wait_until 15 q_atleast "select count(*) from events where kind='device.lost' and subject='pl-1'" 1 \
  || { kill -CONT "$pl"; fail "a frozen pl-1 was not marked lost"; }
kill -CONT "$pl"
pass "frozen pl-1 marked lost"

wait "$RUN" || fail "labloop run exited $?"
[ "$(q "select count(*) from events where kind='device.ready' and subject='pl-1'")" -ge 2 ] || fail "pl-1 did not register again"
check_hub_complete 8
pass "thawed pl-1 registered again; the campaign completed"
