# An e-stop's cancellations do not use up a step's retries, also across a
# restart of the orchestrator. A step with one retry is e-stopped on its
# first attempt; the orchestrator is stopped (SIGTERM) while halted and
# started again on the same hub (the worker is stopped meanwhile, so it
# misses the first clear-estop and halts the campaign again when it
# rejoins still latched); after clear-estop and resume the second
# attempt fails, and a third still runs (the e-stopped attempt is not held
# against the step, as the hub remembers) and measures the experiment.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
cat >"$T/measure.sh" <<'SH'
#!/bin/sh
# attempt 1 runs long enough to be e-stopped; attempt 2 fails; later ones work
case "$LABLOOP_ATTEMPT" in
  */1) sleep 60 ;;
  */2) echo "lamp did not ignite" >&2; exit 3 ;;
  *) echo '{"absorbance": 0.42}' ;;
esac
SH
chmod +x "$T/measure.sh"
write_uvvis_campaign es "retries: 1, backoff: 100ms"

"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/uvvis.log" 2>&1 & WORKER=$!; PIDS+=($WORKER)

run_bg
wait_until 20 q_atleast "select count(*) from steps where attempt = 1 and status in ('dispatched', 'running')" 1 \
  || fail "the first attempt did not start"
"$LABLOOP" estop $C --reason "enclosure door opened" | grep -q "now halted" || fail "estop failed"
wait_until 10 q_is "select status || ':' || counted from steps where attempt = 1" "cancelled:0" \
  || fail "the e-stopped attempt is not recorded as not counting: $(attempts)"
kill -STOP "$WORKER"                   # away while the orchestrator restarts
kill -TERM "$RUN"; wait "$RUN" && true
[ "$(q "select status from campaigns")" = halted ] || fail "after SIGTERM the campaign is $(q 'select status from campaigns')"
pass "e-stopped attempt recorded as not counting against retries; orchestrator stopped while halted"

run_bg
wait_until 10 grep -q "resuming campaign es (halted)" "$T/run.log" || fail "run did not resume the halted campaign"
# A clear given while the (still latched) worker is away does not reach it:
# clear-estop names it, and when it rejoins latched the campaign halts again.
clear_estop() { "$LABLOOP" clear-estop $C 2>"$T/clear.err"; }
wait_until 10 clear_estop || fail "clear-estop failed: $(cat "$T/clear.err")"
grep -q "not connected, so maybe not cleared: uvvis-1" "$T/clear.err" \
  || fail "clear-estop did not name the device it could not reach: $(cat "$T/clear.err")"
kill -CONT "$WORKER"
wait_until 10 q_is "select status from campaigns" halted \
  || fail "the worker rejoined still latched but the campaign is $(q 'select status from campaigns')"
device_ready() { "$LABLOOP" status $C --json | grep -q '"state":"ready"'; }
wait_until 10 device_ready || fail "the worker did not rejoin after the restart"
"$LABLOOP" clear-estop $C 2>"$T/clear.err" || fail "second clear-estop failed"
[ ! -s "$T/clear.err" ] || fail "clear-estop warned with the device connected: $(cat "$T/clear.err")"
pass "a clear-estop that missed the away worker is named, and the worker rejoining latched halts the campaign again"
"$LABLOOP" resume $C | grep -q "now running" || fail "resume failed"
wait "$RUN" || fail "labloop run exited $? after the restart"
[ "$(attempts)" = "1:cancelled:0 2:failed:1 3:done:1" ] || fail "attempts after the restart: $(attempts)"
[ "$(q "select status from experiments")" = measured ] || fail "the experiment is $(q 'select status || ": " || ifnull(error, "") from experiments')"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign is $(q 'select status from campaigns')"
pass "after the restart the e-stopped attempt still did not count: attempt 2 failed, attempt 3 ran and measured"
