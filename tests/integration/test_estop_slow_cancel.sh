# An attempt hit by an e-stop does not count against its step's retries,
# even when its device takes long to stop it and the orchestrator restarts
# before the "cancelled" result arrives. The step has no retries: if the
# e-stopped attempt counted, the experiment would fail. Here the command
# takes 3 s to stop after SIGTERM; meanwhile the operator clears the e-stop
# and resumes, and the orchestrator is killed (SIGKILL) and started again.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
cat >"$T/measure.sh" <<'SH'
#!/bin/sh
# attempt 1 runs until stopped, and then takes 3 s to wind down
case "$LABLOOP_ATTEMPT" in
  */1) trap 'sleep 3; exit 143' TERM; : >"$LABLOOP_ARTIFACTS/../trapped"; sleep 60 & wait $!; exit 0 ;;
  *) echo '{"absorbance": 0.42}' ;;
esac
SH
chmod +x "$T/measure.sh"
write_uvvis_campaign slow "retries: 0" "kill_grace: 20s"

"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/uvvis.log" 2>&1 & PIDS+=($!)

run_bg
wait_until 20 q_atleast "select count(*) from steps where attempt = 1 and status in ('dispatched', 'running')" 1 \
  || fail "the first attempt did not start"
wait_until 10 test -e "$T/artifacts/trapped" || fail "the first attempt's command did not set its trap"
"$LABLOOP" estop $C --reason "spill" | grep -q "now halted" || fail "estop failed"
"$LABLOOP" clear-estop $C | grep -q "now paused" || fail "clear-estop failed"
"$LABLOOP" resume $C | grep -q "now running" || fail "resume failed"
# The device is still stopping the attempt; the hub already marks it.
q_is "select count(*) from steps where attempt = 1 and status in ('dispatched', 'running') and counted = 0" 1 \
  || fail "before the attempt's result came, its row is $(attempts)"
kill -KILL "$RUN"; wait "$RUN" 2>/dev/null && true
pass "e-stopped attempt marked not counting while its device was still stopping it; orchestrator killed"

run_bg
wait "$RUN" || fail "labloop run exited $? after the restart"
[ "$(attempts)" = "1:cancelled:0 2:done:1" ] || fail "attempts after the restart: $(attempts)"
[ "$(q "select status from experiments")" = measured ] || fail "the experiment is $(q 'select status || ": " || ifnull(error, "") from experiments')"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign is $(q 'select status from campaigns')"
pass "the late 'cancelled' result did not use up the step's only attempt: attempt 2 ran and measured"
