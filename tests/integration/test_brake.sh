# The failure brake: a step that never returns the objective fails every
# experiment the same way (the values it returns differ each time); after
# 5 in a row the campaign pauses itself with that cause, shown by status,
# show, log and the dashboard's summary; resume (with the step fixed) runs
# it to its budget. A measured experiment in between starts the count again.
source "$(dirname "$0")/lib.sh"
# out_of CMD ARGS: labloop's output into $T/out.txt, for grep to read from the
# file (a `| grep -q` may stop reading early, and pipefail would count the
# writer's SIGPIPE as a failure).
out_of() { "$LABLOOP" "$@" >"$T/out.txt" || fail "labloop $* exited $?"; }
PORT=$(free_port)
# Fails (no 'absorbance') until $T/fixed exists; a different number each time.
cat >"$T/measure.sh" <<SH
#!/bin/sh
n=\$(cat "$T/count" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$T/count"
if [ -e "$T/fixed" ]; then echo "{\"absorbance\": 0.\$n}"; else echo "{\"absorbance_max\": 0.\$n, \"peak_nm\": 5\$n}"; fi
SH
chmod +x "$T/measure.sh"
write_uvvis_campaign brk "retries: 0"
sed -i 's/budget: {experiments: 1}/budget: {experiments: 12}/' "$T/campaign.yaml"
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)

wait_until 60 q_is "select status from campaigns" paused || fail "the campaign did not brake"
# In flight when it braked: nothing (batch 1); nothing is dispatched after it.
wait_until 20 q_is "select count(*) from steps where status in ('queued','dispatched','running')" 0 || fail "a step is still running"
n=$(q "select count(*) from steps"); sleep 1.5
[ "$(q "select count(*) from steps")" = "$n" ] || fail "steps were dispatched after the brake"
[ "$(q "select count(*) from experiments where status='failed'")" = 5 ] || fail "expected 5 failed experiments, got $(q "select count(*) from experiments where status='failed'")"
[ "$(q "select count(*) from events where kind='campaign.braked' and json_extract(detail,'$.failures')=5 and json_extract(detail,'$.cause') like 'step ''measure'' returned no numeric ''absorbance''%'")" = 1 ] \
  || fail "no campaign.braked event with its cause: $(q "select detail from events where kind='campaign.braked'")"
[ "$(q "select count(*) from events where kind='campaign.status' and json_extract(detail,'$.status')='paused' and json_extract(detail,'$.by')='labloop' and json_extract(detail,'$.reason') like 'failure brake: 5 experiments in a row%'")" = 1 ] \
  || fail "the pause event does not carry the brake's reason"
pass "5 failures with one cause (numbers differing) brake the campaign; nothing more is dispatched"

"$LABLOOP" status $C >"$T/status.txt" || fail "status failed"
cat "$T/status.txt"
grep -q "campaign brk: paused" "$T/status.txt" || fail "status does not say paused"
grep -q "^BRAKED: failure brake: 5 experiments in a row failed with the same cause: step 'measure' returned no numeric 'absorbance'" "$T/status.txt" || fail "status does not show the brake's cause"
"$LABLOOP" status $C --json | python3 -c '
import json, sys
d = json.load(sys.stdin); p = d["lifecycle"]["pause"]
assert p["by"] == "labloop" and p["failures"] == 5 and "absorbance" in p["cause"], p' || fail "status --json lacks the pause"
"$LABLOOP" show "$DB" >"$T/show.txt" || fail "show failed"
grep -q "^  braked: failure brake: 5 experiments in a row failed with the same cause: step 'measure'" "$T/show.txt" || fail "show does not show the brake: $(head -3 "$T/show.txt")"
"$LABLOOP" log "$DB" >"$T/log.txt" || fail "log failed"
grep -q "campaign brk braked: 5 experiments in a row failed with the same cause: step 'measure' returned no numeric" "$T/log.txt" || fail "log does not tell the brake"
grep -q "campaign brk paused by labloop: failure brake" "$T/log.txt" || fail "log does not tell the pause's reason"
HP=$(free_port)
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" >"$T/serve.log" 2>&1 & PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
curl -sf "http://127.0.0.1:$HP/api/summary" | python3 -c '
import json, sys
d = json.load(sys.stdin); p = d["pause"]
assert d["status"] == "paused" and p["failures"] == 5 and p["by"] == "labloop" and "absorbance" in p["cause"], p' || fail "dashboard summary lacks the brake"
curl -sf "http://127.0.0.1:$HP/" >"$T/page.html"; grep -q '<p id="pause" class="warn">braked: failure brake: 5 experiments' "$T/page.html" || fail "dashboard page does not show the brake"
pass "status, show, log and the dashboard show the brake and its cause"

touch "$T/fixed"
"$LABLOOP" resume $C | grep -q "now running" || fail "resume failed"
wait "$RUN" || fail "labloop run exited $?"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete after resume"
[ "$(q "select count(*) from experiments")" = 12 ] || fail "expected 12 experiments"
[ "$(q "select count(*) from experiments where status='measured'")" = 7 ] || fail "expected 7 measured after the fix"
[ "$(q "select count(*) from (select experiment from steps group by experiment having count(*) > 1)")" = 0 ] || fail "an experiment ran twice"
[ "$(q "select count(*) from audit where action='resume' and outcome='ok'")" = 1 ] || fail "resume not audited"
out_of show "$DB"; grep -q "braked" "$T/out.txt" && fail "show still says braked after the end"
pass "resume after the fix runs the campaign to its budget, no experiment twice"

# brake: off never pauses; a measured experiment between failures resets the count.
rm -f "$T/fixed" "$T/count" "$DB"*
cat >"$T/measure.sh" <<SH
#!/bin/sh
n=\$(cat "$T/count" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$T/count"
if [ \$((n % 4)) = 0 ]; then echo "{\"absorbance\": 0.\$n}"; else echo "{\"peak_nm\": 5\$n}"; fi
SH
sed -i 's/name: brk,/name: brk2,/' "$T/campaign.yaml"
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker2.log" 2>&1 & PIDS+=($!)   # a worker stops when its campaign ends
"$LABLOOP" run "$T/campaign.yaml" >"$T/run2.log" 2>&1 || fail "run with a measured experiment every 4th exited $?"
[ "$(q "select status from campaigns")" = completed ] || fail "a count reset by measured experiments still braked"
[ "$(q "select count(*) from events where kind='campaign.braked'")" = 0 ] || fail "braked although no 5 failed in a row"
pass "3 failures then a measured one, over and over: no brake"

rm -f "$T/count" "$DB"*
echo '#!/bin/sh
echo "{\"peak_nm\": 1}"' >"$T/measure.sh"
sed -i 's/name: brk2,/name: brk3, brake: off,/' "$T/campaign.yaml"
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker3.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run3.log" 2>&1 || fail "run with brake off exited $?"
[ "$(q "select count(*) from experiments where status='failed'")" = 12 ] || fail "brake off: expected all 12 failed"
[ "$(q "select count(*) from events where kind='campaign.braked'")" = 0 ] || fail "brake off still braked"
pass "brake: off lets every experiment fail"

# In flight when it brakes (batch 4 on the simulated lab, every PL
# measurement failing): the running steps finish and are recorded, nothing
# new starts, and the experiments under way wait for resume, none lost.
mkdir -p "$T/sim" && T0=$T && T=$T/sim
P2=$(free_port)
PL_FAILURE_RATE=1 DISPENSE=60s write_lab "$T" "$P2" 100
RETRIES=0 write_campaign "$T" "$P2" 40 4
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 120 q_is "select status from campaigns" paused || fail "the simulated campaign did not brake"
wait_until 60 q_is "select count(*) from steps where status='dispatched'" 0 || fail "steps in flight at the brake did not finish"
# Started before the brake, ended after it (the liquid handler feeding batch 4 is never idle for long).
inflight=$(q "select count(*) from steps, (select t_us from events where kind='campaign.braked') b where started_us <= b.t_us and finished_us >= b.t_us")
[ "$inflight" -ge 1 ] || fail "no step was running when the brake came: $(q "select attempt_id, status, started_us, finished_us from steps order by id desc limit 6")"
n=$(q "select count(*) from steps"); sleep 1.5
[ "$(q "select count(*) from steps")" = "$n" ] || fail "steps were dispatched after the brake"
[ "$(q "select json_extract(detail,'$.failures') from events where kind='campaign.braked'")" = 5 ] || fail "the brake's count is not 5"
q "select json_extract(detail,'$.cause') from events where kind='campaign.braked'" | grep -q "^step 'measure_pl': device 'pl-1': spectrum fit failed" || fail "the cause: $(q "select detail from events where kind='campaign.braked'")"
waiting=$(q "select count(*) from experiments where status not in ('measured','failed','cancelled')")
[ "$waiting" -ge 1 ] || fail "no experiment was under way at the brake (batch 4)"
[ "$(q "select count(*) from experiments where status='cancelled'")" = 0 ] || fail "the brake cancelled experiments"
"$LABLOOP" abort --endpoint "tcp://127.0.0.1:$((P2 + 1))" --reason "test over" >/dev/null || fail "abort failed"
wait "$RUN" || fail "labloop run exited $? after abort"
pass "braked in flight: $inflight steps running at the brake finished and were recorded, $waiting experiments waited, nothing new started"
T=$T0
