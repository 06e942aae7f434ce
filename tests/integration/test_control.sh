# Operator control over the control endpoint: status, pause, resume, estop,
# clear-estop, abort — their effect on dispatching, on the workers and in
# the hub, and every action in the audit table.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=60s write_lab "$T" "$PORT" 60      # ~1 s steps: slow enough to steer
write_campaign "$T" "$PORT" 40 2
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
dispatched() { q "select count(*) from steps"; }

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 q_atleast "select count(*) from steps where status='done'" 2 || fail "the campaign did not get going"

"$LABLOOP" status $C >"$T/status.txt" || fail "status failed"
cat "$T/status.txt"
grep -q "campaign it: running" "$T/status.txt" || fail "status does not say running"
grep -Eq "^ot2 +ready" "$T/status.txt" || fail "status does not list ot2 as ready"
"$LABLOOP" status $C --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["status"]=="running" and len(d["devices"])==3, d' \
  || fail "status --json"
pass "status shows the campaign, its devices and progress"

timeout 2.5 "$LABLOOP" status $C --watch >"$T/watch.txt" 2>&1 || true
[ "$(grep -c "campaign it: running" "$T/watch.txt")" -ge 2 ] || fail "status --watch did not refresh"
grep -q $'\033\[H' "$T/watch.txt" || fail "status --watch does not redraw in place"
pass "status --watch redraws in place ($(grep -c "campaign it:" "$T/watch.txt") frames in 2.5 s)"

"$LABLOOP" pause $C --reason "refill solvent" | grep -q "now paused" || fail "pause failed"
[ "$(q "select status from campaigns")" = paused ] || fail "hub does not say paused"
wait_until 30 q_is "select count(*) from steps where status='dispatched'" 0 || fail "running steps did not finish while paused"
n=$(dispatched); sleep 1.5
[ "$(dispatched)" = "$n" ] || fail "steps were dispatched while paused ($n -> $(dispatched))"
"$LABLOOP" pause $C >/dev/null 2>"$T/pause2.err" && fail "pausing twice succeeded"
grep -q "not running" "$T/pause2.err" || fail "unclear refusal: $(cat "$T/pause2.err")"
pass "pause: running steps finished, nothing new dispatched ($n steps)"

"$LABLOOP" resume $C | grep -q "now running" || fail "resume failed"
wait_until 20 q_atleast "select count(*) from steps" $((n + 1)) || fail "nothing dispatched after resume"
pass "resume: dispatching again"

# The dashboard forwards control actions with its token to the same endpoint.
HP=$(free_port)
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" --token dash-token-1 --control "tcp://127.0.0.1:$((PORT + 1))" >"$T/serve.log" 2>&1 & PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
curl -sf -X POST -H 'Authorization: Bearer dash-token-1' "http://127.0.0.1:$HP/api/control/pause" | grep -q '"status":"paused"' || fail "dashboard pause failed"
[ "$(q "select status from campaigns")" = paused ] || fail "dashboard pause did not pause"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer dash-token-1' "http://127.0.0.1:$HP/api/control/pause")" = 409 ] || fail "a refused dashboard action was not 409"
curl -sf -X POST -H 'Authorization: Bearer dash-token-1' "http://127.0.0.1:$HP/api/control/resume" | grep -q '"status":"running"' || fail "dashboard resume failed"
pass "dashboard: pause and resume with the token reach the orchestrator (a refusal is 409)"

wait_until 20 q_atleast "select count(*) from steps where status='dispatched'" 1 || fail "no step running to stop"
"$LABLOOP" estop $C --reason "smoke in the glovebox" | grep -q "now halted" || fail "estop failed"
[ "$(q "select status from campaigns")" = halted ] || fail "hub does not say halted"
wait_until 10 q_is "select count(*) from steps where status='dispatched'" 0 || fail "steps still running after the e-stop"
[ "$(q "select count(*) from steps where status='cancelled'")" -ge 1 ] || fail "no step was cancelled by the e-stop"
grep -q "E-STOP" "$T/sim.log" || fail "workers did not log the e-stop"
n=$(dispatched); sleep 1.5
[ "$(dispatched)" = "$n" ] || fail "steps dispatched while halted"
"$LABLOOP" resume $C >/dev/null 2>"$T/resume.err" && fail "resume while halted succeeded"
grep -q "clear it first" "$T/resume.err" || fail "unclear refusal: $(cat "$T/resume.err")"
pass "estop: workers stopped, running steps cancelled, nothing dispatched, resume refused"

"$LABLOOP" clear-estop $C | grep -q "now paused" || fail "clear-estop failed"
"$LABLOOP" resume $C | grep -q "now running" || fail "resume after clear failed"
wait_until 20 q_atleast "select count(*) from steps" $((n + 1)) || fail "nothing dispatched after clear + resume"
[ "$(q "select count(*) from experiments where status='failed' and error like '%cancel%'")" = 0 ] || fail "an e-stop used up an experiment"
pass "clear-estop + resume: the cancelled steps run again; no experiment failed for it"

"$LABLOOP" abort $C --reason "end of shift" | grep -q "aborted" || fail "abort failed"
wait "$RUN" || fail "labloop run exited $? after abort"
[ "$(q "select status from campaigns")" = aborted ] || fail "hub does not say aborted"
[ "$(q "select count(*) from experiments where status not in ('measured','failed','cancelled')")" = 0 ] || fail "experiments left running after abort"
[ "$(q "select count(*) from steps where status='dispatched'")" = 0 ] || fail "steps left running after abort"
pass "abort: campaign aborted, nothing left running"

actions=$(q "select group_concat(action || ':' || outcome, ' ') from (select action, outcome from audit order by id)")
echo "audit: $actions"
[ "$(q "select count(*) from audit where detail like '%from the dashboard%'")" -ge 2 ] || fail "dashboard actions not audited"
for a in "pause:ok" "pause:campaign" "resume:ok" "estop:ok" "resume:campaign" "clear-estop:ok" "abort:ok"; do
  echo "$actions" | grep -q "$a" || fail "audit lacks $a"
done
[ "$(q "select count(*) from audit where actor = '$(id -un)'")" -ge 6 ] || fail "audit rows without the OS user"
[ "$(q "select count(*) from audit where action='estop' and detail like '%smoke%'")" = 1 ] || fail "the e-stop's reason is not audited"
pass "every action (and every refusal) is in the audit table with the OS user"

"$LABLOOP" status --endpoint "tcp://127.0.0.1:$((PORT + 1))" >/dev/null 2>"$T/gone.err" && fail "status with no orchestrator succeeded"
grep -q "no orchestrator answered" "$T/gone.err" || fail "unclear error without an orchestrator"
pass "status without an orchestrator says so"
