# Pause with a reason, and extension: the reason of `pause --reason` is
# shown by status, show, log and the dashboard; `extend` raises the budget
# of a running (here paused) campaign in flight, and of a completed one in
# its hub, after which `labloop run` resumes it with the planner taking up
# from its history. No experiment runs twice; every extension is audited.
source "$(dirname "$0")/lib.sh"
# out_of CMD ARGS: labloop's output into $T/out.txt, for grep to read from the
# file (a `| grep -q` may stop reading early, and pipefail would count the
# writer's SIGPIPE as a failure).
out_of() { "$LABLOOP" "$@" >"$T/out.txt" || fail "labloop $* exited $?"; }
PORT=$(free_port)
# Each measurement waits for $T/go, so the campaign is surely running when steered.
cat >"$T/measure.sh" <<SH
#!/bin/sh
while [ ! -e "$T/go" ]; do sleep 0.05; done
echo "{\"absorbance\": 0.5}"
SH
chmod +x "$T/measure.sh"
write_uvvis_campaign ext "retries: 0"
sed -i 's/budget: {experiments: 1}/budget: {experiments: 3}/; s/kind: random/kind: sobol/' "$T/campaign.yaml"
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
ME=$(id -un)
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 30 q_atleast "select count(*) from steps where status in ('dispatched','running')" 1 || fail "no step started"

"$LABLOOP" pause "$T/campaign.yaml" --reason "refill solvent" | grep -q "now paused" || fail "pause failed"
"$LABLOOP" status "$T/campaign.yaml" >"$T/status.txt" || fail "status failed"
grep -q "^paused by $ME: refill solvent" "$T/status.txt" || fail "status does not show the pause's reason: $(cat "$T/status.txt")"
out_of show "$DB"; grep -q "^  paused by $ME: refill solvent" "$T/out.txt" || fail "show does not show the pause's reason: $(head -3 "$T/out.txt")"
out_of log "$DB"; grep -q "campaign ext paused by $ME: refill solvent" "$T/out.txt" || fail "log does not show the pause's reason"
HP=$(free_port)
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" >"$T/serve.log" 2>&1 & SERVE=$!; PIDS+=($SERVE)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
curl -sf "http://127.0.0.1:$HP/api/summary" | python3 -c '
import json, sys
d = json.load(sys.stdin); p = d["pause"]
assert p["reason"] == "refill solvent" and "cause" not in p, p' || fail "dashboard summary lacks the pause's reason"
curl -sf "http://127.0.0.1:$HP/" >"$T/page.html"; grep -q "<p id=\"pause\" class=\"warn\">paused by $ME: refill solvent" "$T/page.html" || fail "dashboard page lacks the pause's reason: $(grep -o "<p id=.pause[^/]*" "$T/page.html")"
pass "the reason of pause --reason is shown by status, show, log and the dashboard"

# Extend while it runs (paused): the budget rises at once.
"$LABLOOP" extend "$T/campaign.yaml" >/dev/null 2>"$T/noarg.err" && fail "extend without --experiments succeeded"
grep -q "give --experiments N" "$T/noarg.err" || fail "unclear error: $(cat "$T/noarg.err")"
"$LABLOOP" extend "$T/campaign.yaml" --experiments 0 >/dev/null 2>&1 && fail "extend --experiments 0 succeeded"
"$LABLOOP" extend "$T/campaign.yaml" --hours 2 >/dev/null 2>"$T/hours.err" && fail "extending a campaign without a time budget by hours succeeded"
grep -q "no time budget" "$T/hours.err" || fail "unclear refusal: $(cat "$T/hours.err")"
"$LABLOOP" extend "$T/campaign.yaml" --experiments 2 --reason "promising" >"$T/extend.txt" || fail "extend failed: $(cat "$T/extend.txt")"
grep -q "extend: done; campaign ext is paused with a budget of 5 experiments" "$T/extend.txt" || fail "extend said: $(cat "$T/extend.txt")"
"$LABLOOP" status "$T/campaign.yaml" >"$T/status2.txt"
grep -q "/5 experiments done" "$T/status2.txt" || fail "status does not show the new budget"
grep -q "^budget: 5 experiments (3 in the config, 2 more by 1 extension)" "$T/status2.txt" || fail "status does not show the extension: $(cat "$T/status2.txt")"
out_of show "$DB"; grep -q "^  budget 5 experiments (3 in the config, 2 more by 1 extension)" "$T/out.txt" || fail "show does not show the extension"
out_of log "$DB"; grep -q "campaign ext extended by 2 experiments (budget 5), by $ME: promising" "$T/out.txt" || fail "log does not tell the extension"
pass "extend of a running campaign: budget 3 -> 5 at once, shown by status, show and log"

# A restart keeps both: the extension and the pause with its reason come back from the hub.
kill -TERM "$RUN"; wait "$RUN" 2>/dev/null || true
run_bg
wait_until 30 "$LABLOOP" status "$T/campaign.yaml" || fail "the restarted orchestrator does not answer"
"$LABLOOP" status "$T/campaign.yaml" >"$T/status3.txt"
grep -q "campaign ext: paused" "$T/status3.txt" || fail "not paused after the restart: $(cat "$T/status3.txt")"
grep -q "^paused by $ME: refill solvent" "$T/status3.txt" || fail "the pause's reason is lost after a restart: $(cat "$T/status3.txt")"
grep -q "^budget: 5 experiments (3 in the config, 2 more by 1 extension)" "$T/status3.txt" || fail "the extension is lost after a restart: $(cat "$T/status3.txt")"
pass "after a restart the campaign is still paused with its reason and keeps its extended budget"

touch "$T/go"
"$LABLOOP" resume "$T/campaign.yaml" | grep -q "now running" || fail "resume failed"
out_of show "$DB"; grep -q "paused by" "$T/out.txt" && fail "show still says paused after resume"
wait "$RUN" || fail "labloop run exited $?"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete"
[ "$(q "select count(*) from experiments where status='measured'")" = 5 ] || fail "expected 5 measured, got $(q "select count(*) from experiments where status='measured'")"
pass "the extended campaign ran to its new budget of 5"

# Finished: run again is refused with a hint; extend records it in the hub.
"$LABLOOP" run "$T/campaign.yaml" >"$T/again.log" 2>&1 && fail "a second run of a completed campaign succeeded"
grep -q "already ended (completed).*labloop extend" "$T/again.log" || fail "no hint to extend: $(cat "$T/again.log")"
"$LABLOOP" extend "$T/campaign.yaml" --experiments 3 --reason "a little more" >"$T/extend2.txt" || fail "extend of a completed campaign failed: $(cat "$T/extend2.txt")"
grep -q "campaign ext (completed) now has a budget of 8 experiments" "$T/extend2.txt" || fail "extend said: $(cat "$T/extend2.txt")"
[ "$(q "select count(*) from audit where action='extend' and outcome='ok' and actor='$ME' and json_extract(detail,'$.experiments')=3 and json_extract(detail,'$.reason')='a little more'")" = 1 ] \
  || fail "the extension of the completed campaign is not audited: $(q "select * from audit where action='extend'")"
[ "$(q "select status from campaigns")" = completed ] || fail "extend changed the campaign's status"
out_of show "$DB"; grep -q "^  budget 8 experiments (3 in the config, 5 more by 2 extensions)" "$T/out.txt" || fail "show does not show both extensions"

"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker2.log" 2>&1 & PIDS+=($!)   # a worker stops when its campaign ends
"$LABLOOP" run "$T/campaign.yaml" >"$T/run2.log" 2>&1 || fail "run after extend exited $?: $(tail -5 "$T/run2.log")"
grep -q "resuming campaign ext" "$T/run2.log" || fail "run did not resume the campaign"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete again"
[ "$(q "select count(*) from experiments where status='measured'")" = 8 ] || fail "expected 8 measured"
[ "$(q "select min(seq) || '-' || max(seq) || '/' || count(distinct seq) from experiments")" = "1-8/8" ] || fail "experiment numbers: $(q "select group_concat(seq) from experiments")"
[ "$(q "select count(*) from (select experiment from steps group by experiment having count(*) > 1)")" = 0 ] || fail "an experiment ran twice"
# The planner took up from its history: a Sobol sequence goes on, no point repeated.
[ "$(q "select count(distinct params) from experiments")" = 8 ] || fail "the planner proposed a point again: $(q "select group_concat(params, ' ') from experiments")"
[ "$(q "select count(*) from audit where action='extend' and outcome='ok'")" = 2 ] || fail "expected 2 audited extensions"
pass "extend of a completed campaign: audited in its hub; run resumes it to 8, no experiment twice, the planner going on"

"$LABLOOP" run "$T/campaign.yaml" >"$T/again2.log" 2>&1 && fail "a run after the extension was spent succeeded"
grep -q "already ended (completed)" "$T/again2.log" || fail "unclear refusal: $(cat "$T/again2.log")"
pass "once the extension is spent, run refuses again"

# A campaign that ended on its time budget: more experiments alone are
# refused (the time is spent too); --hours moves the deadline on from now.
cat >"$T/measure.sh" <<SH
#!/bin/sh
sleep 0.2
echo "{\"absorbance\": 0.5}"
SH
sed -i 's/name: ext,/name: ext-t,/; s/budget: {experiments: 3}/budget: {experiments: 1000, hours: 2s}/' "$T/campaign.yaml"
rm -f "$DB"*
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker3.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run3.log" 2>&1 || fail "the timed campaign exited $?"
[ "$(q "select status from campaigns")" = exhausted ] || fail "the timed campaign did not end exhausted"
n=$(q "select count(*) from experiments where status='measured'")
"$LABLOOP" extend "$T/campaign.yaml" --experiments 5 >/dev/null 2>"$T/spent.err" && fail "extending only the experiments of a campaign out of time succeeded"
grep -q "spent its time budget too: give --hours H" "$T/spent.err" || fail "unclear refusal: $(cat "$T/spent.err")"
"$LABLOOP" extend "$T/campaign.yaml" --hours 15s >"$T/extend3.txt" || fail "extend --hours failed: $(cat "$T/spent.err")"
grep -q "campaign ext-t (exhausted) now has a budget of 1000 experiments and 1[45] s of time left" "$T/extend3.txt" || fail "extend said: $(cat "$T/extend3.txt")"
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker4.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run4.log" 2>&1 || fail "run after extend --hours exited $?: $(tail -3 "$T/run4.log")"
[ "$(q "select status from campaigns")" = exhausted ] || fail "not exhausted again"
m=$(q "select count(*) from experiments where status='measured'")
[ "$m" -gt "$n" ] || fail "no experiment in the extra time ($n before, $m after)"
[ "$(q "select count(*) from (select experiment from steps group by experiment having count(*) > 1)")" = 0 ] || fail "an experiment ran twice"
pass "a campaign out of time: --experiments alone refused; --hours 15s gave it more time ($n -> $m experiments)"
