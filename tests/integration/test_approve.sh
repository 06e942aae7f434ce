# The approval gate (campaign.approve: each), with real processes on the
# simulated lab and CURVE on the control endpoint: proposals wait as
# 'proposed' with nothing dispatched, at most a batch of them; a viewer key,
# an unknown or not-waiting experiment are refused with nothing changed; a
# SIGKILL and restart keeps the same proposals waiting (the planner is not
# asked again); approved ones run and are measured; a rejected one ends
# 'rejected' with its reason and who, uses no budget, and the planner
# proposes another point instead. Then a lab service (labloop lab) with
# --campaign: approve in a campaign with the gate, refused in one without.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
K="$T/keys"
DB="$T/campaign.db"
out_of() { "$LABLOOP" "$@" >"$T/out.txt" 2>&1 || fail "labloop $* exited $?: $(cat "$T/out.txt")"; }
waiting() { q "select group_concat(seq) from (select seq from experiments where status='proposed' order by seq)"; }

# ---- the config key ----
write_campaign "$T" "$PORT" 6 2
sed -i 's/^campaign: {name: it,/campaign: {name: it, approve: sometimes,/' "$T/campaign.yaml"
"$LABLOOP" validate "$T/campaign.yaml" >/dev/null 2>"$T/bad.err" && fail "validate accepted approve: sometimes"
grep -Eq "campaign.yaml:1:[0-9]+: .*approve must be one of none\|each, got .*sometimes" "$T/bad.err" \
  || fail "unclear error for a bad approve: $(cat "$T/bad.err")"
pass "approve: sometimes is a config error at file:line:col naming the choices"

# ---- a campaign with the gate, CURVE on ----
"$LABLOOP" keygen alice --dir "$K" >/dev/null
"$LABLOOP" keygen bob --dir "$K" >/dev/null
write_lab "$T" "$PORT" 600
sed -i "s|seed: 3}|seed: 3, keys: \"$K\"}|" "$T/lab.yaml"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & SIM=$!; PIDS+=($SIM)
wait_until 10 test -f "$K/pl-1.pub" -a -f "$K/lab.key" || fail "sim did not make its keys"
PLANNER=random write_campaign "$T" "$PORT" 6 2
sed -i 's/^campaign: {name: it,/campaign: {name: it, approve: each,/' "$T/campaign.yaml"
python3 - "$T/campaign.yaml" "$K" <<'PY'
import sys
p, k = sys.argv[1], sys.argv[2]
s = open(p).read()
for d in ("ot2", "hotplate", "pl-1"):
    s = s.replace("{name: %s, " % d, "{name: %s, key: %s/%s.pub, " % (d, k, d))
s += """security:
  key: %s/lab.key
  clients:
    - {name: alice, key: %s/alice.pub, role: operator}
    - {name: bob, key: %s/bob.pub, role: viewer}
""" % (k, k, k)
open(p, "w").write(s)
PY
"$LABLOOP" validate "$T/campaign.yaml" >/dev/null || fail "the campaign does not validate"
A="--key $K/alice.key"
run_bg
wait_until 30 q_is "select count(*) from experiments where status='proposed'" 2 || fail "no proposals waiting: $(q "select seq, status from experiments")"
# Nothing may go out while they wait; the planner is asked for no more than a batch.
wait_until 30 "$LABLOOP" status "$T/campaign.yaml" $A || fail "the orchestrator does not answer"
sleep 1
[ "$(q "select count(*) from experiments")" = 2 ] || fail "more than a batch proposed: $(q "select seq, status from experiments")"
[ "$(q "select count(*) from steps")" = 0 ] || fail "a step of a proposal waiting for approval went out"
[ "$(q "select count(*) from experiments where status='proposed' and json_extract(provenance, '$.planner')='random'")" = 2 ] \
  || fail "proposals lack the planner's provenance"
"$LABLOOP" status "$T/campaign.yaml" $A >"$T/status.txt" || fail "status failed"
grep -q "^waiting for approval: 2" "$T/status.txt" || fail "status does not count the proposals waiting: $(cat "$T/status.txt")"
grep -Eq "^  experiment 1: cs_pb_ratio=[0-9.]+ temperature=" "$T/status.txt" || fail "status does not list proposal 1's parameters: $(cat "$T/status.txt")"
out_of show "$DB"; grep -q "approval: 2 waiting" "$T/out.txt" || fail "show does not show the proposals waiting: $(head -8 "$T/out.txt")"
out_of log "$DB"; grep -q "experiment 2 proposed by random.*waiting for approval" "$T/out.txt" || fail "log does not say proposal 2 waits: $(grep proposed "$T/out.txt")"
pass "proposals wait as 'proposed' with their provenance (status, show, log); nothing dispatched; at most a batch"

# Refusals change nothing.
before=$(q "select group_concat(seq || status, ',') from experiments")
rc=0; "$LABLOOP" approve "$T/campaign.yaml" --key "$K/bob.key" 1 >/dev/null 2>"$T/viewer.err" || rc=$?
[ "$rc" = 1 ] || fail "a viewer's approve: exit $rc"
grep -q "viewer role; approve needs an operator key" "$T/viewer.err" || fail "unclear viewer refusal: $(cat "$T/viewer.err")"
rc=0; "$LABLOOP" approve "$T/campaign.yaml" $A 1 99 >/dev/null 2>"$T/bad-n.err" || rc=$?
[ "$rc" = 1 ] && grep -q "has no experiment 99.*nothing was changed" "$T/bad-n.err" || fail "approve 1 99: exit $rc, $(cat "$T/bad-n.err")"
rc=0; "$LABLOOP" reject "$T/campaign.yaml" $A 0 >/dev/null 2>"$T/zero.err" || rc=$?
[ "$rc" = 2 ] || fail "reject 0: exit $rc ($(cat "$T/zero.err"))"
rc=0; "$LABLOOP" approve "$T/campaign.yaml" $A >/dev/null 2>"$T/none.err" || rc=$?
[ "$rc" = 2 ] && grep -q "name the experiments by number" "$T/none.err" || fail "approve without N: exit $rc"
[ "$(q "select group_concat(seq || status, ',') from experiments")" = "$before" ] || fail "a refused request changed the experiments"
[ "$(q "select count(*) from steps")" = 0 ] || fail "a refused request dispatched a step"
[ "$(q "select count(*) from audit where action='approve' and actor='bob' and outcome like '%operator key%'")" = 1 ] \
  || fail "the viewer's refused approve is not audited: $(q "select actor, action, outcome from audit")"
pass "a viewer key, an unknown experiment, 0 and no number are refused; nothing changed"

# SIGKILL with proposals waiting: the restart keeps them, not asking again.
params_before=$(q "select group_concat(params, ' ') from experiments order by seq")
kill -KILL "$RUN"; wait "$RUN" 2>/dev/null || true
run_bg
wait_until 30 "$LABLOOP" status "$T/campaign.yaml" $A || fail "the restarted orchestrator does not answer"
"$LABLOOP" status "$T/campaign.yaml" $A >"$T/status2.txt"
grep -q "^waiting for approval: 2" "$T/status2.txt" || fail "after the restart: $(cat "$T/status2.txt")"
[ "$(grep "^  experiment " "$T/status2.txt")" = "$(grep "^  experiment " "$T/status.txt")" ] \
  || fail "status lists the proposals otherwise after the restart: $(grep "^  experiment " "$T/status.txt" "$T/status2.txt")"
[ "$(q "select count(*) from experiments")" = 2 ] || fail "the restart asked the planner again: $(q "select seq, status from experiments")"
[ "$(q "select group_concat(params, ' ') from experiments order by seq")" = "$params_before" ] || fail "the proposals changed across the restart"
[ "$(q "select count(*) from steps")" = 0 ] || fail "the restart dispatched a proposal"
pass "SIGKILL and restart: the same 2 proposals wait, the planner not asked again, nothing dispatched"

# Approve 1: it runs and is measured. Reject 2: rejected, told, another proposed.
"$LABLOOP" approve "$T/campaign.yaml" $A 1 >"$T/approve.txt" 2>&1 || fail "approve 1: $(cat "$T/approve.txt")"
grep -q "approve: done; 1 experiment of campaign it approved; 1 waiting for approval" "$T/approve.txt" || fail "approve said: $(cat "$T/approve.txt")"
p2=$(q "select params from experiments where seq=2")
"$LABLOOP" reject "$T/campaign.yaml" $A 2 --reason "too hot for the furnace" >"$T/reject.txt" 2>&1 || fail "reject 2: $(cat "$T/reject.txt")"
[ "$(q "select status from experiments where seq=2")" = rejected ] || fail "experiment 2 is $(q "select status from experiments where seq=2")"
[ "$(q "select error from experiments where seq=2")" = "rejected by alice: too hot for the furnace" ] || fail "the rejection's reason: $(q "select error from experiments where seq=2")"
[ "$(q "select count(*) from events where kind='experiment.rejected' and json_extract(detail,'$.by')='alice' and json_extract(detail,'$.reason')='too hot for the furnace'")" = 1 ] \
  || fail "no experiment.rejected event with who and why"
[ "$(q "select count(*) from events where kind='experiment.approved' and json_extract(detail,'$.experiment')=1 and json_extract(detail,'$.by')='alice'")" = 1 ] \
  || fail "no experiment.approved event"
[ "$(q "select count(*) from audit where action='reject' and actor='alice' and outcome='ok' and json_extract(detail,'$.experiments[0]')=2 and json_extract(detail,'$.reason')='too hot for the furnace'")" = 1 ] \
  || fail "the rejection is not audited: $(q "select actor, action, detail, outcome from audit")"
rc=0; "$LABLOOP" approve "$T/campaign.yaml" $A 2 >/dev/null 2>"$T/again.err" || rc=$?
[ "$rc" = 1 ] && grep -q "experiment 2 of campaign 'it' is not waiting for approval (it is rejected)" "$T/again.err" || fail "approve of a rejected one: exit $rc, $(cat "$T/again.err")"
# (the simulated chemistry may fail it: then it ran and failed, as any other)
wait_until 60 q_is "select status in ('measured','failed') from experiments where seq=1" 1 || fail "approved experiment 1 did not run to its end: $(q "select seq, status from experiments")"
[ "$(q "select count(*) from steps where experiment=1 and status='done'")" -ge 1 ] || fail "approved experiment 1 ran no step"
[ "$(q "select count(*) from steps where experiment=2")" = 0 ] || fail "the rejected experiment ran"
wait_until 30 q_atleast "select count(*) from experiments where seq > 2" 1 || fail "the planner was not asked again after the rejection"
out_of log "$DB"; grep -q "experiment 2 rejected by alice: too hot for the furnace" "$T/out.txt" || fail "log does not tell the rejection"
grep -q "experiment 1 approved by alice" "$T/out.txt" || fail "log does not tell the approval"
pass "approved 1 ran to its end; rejected 2 ended 'rejected' with who and why (event, audit, log), never ran; another was proposed"

# Approve whatever waits until the budget of 6 is spent: the rejection used none.
for _ in $(seq 1 300); do
  st=$(q "select status from campaigns")
  [ "$st" = completed ] && break
  w=$(waiting)
  if [ -n "$w" ]; then "$LABLOOP" approve "$T/campaign.yaml" $A ${w//,/ } >/dev/null 2>&1 || true; fi
  sleep 0.2
done
wait "$RUN" || fail "labloop run exited $?"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete"
[ "$(q "select count(*) from experiments where status in ('measured','failed')")" = 6 ] || fail "not 6 measured or failed: $(q "select seq, status from experiments")"
[ "$(q "select count(*) from experiments")" = 7 ] || fail "expected 6 run + 1 rejected: $(q "select seq, status from experiments")"
[ "$(q "select count(distinct params) from experiments")" = 7 ] || fail "a point was proposed twice"
[ "$(q "select count(*) from experiments where params = '$p2' and seq != 2")" = 0 ] || fail "the rejected point was proposed again"
[ "$(q "select count(*) from (select experiment, step from steps where status='done' group by experiment, step having count(*) > 1)")" = 0 ] || fail "a step ran twice"
pass "the campaign completed 6 experiments plus the rejected one (no budget used by it, its point not proposed again)"

# ---- a lab service: --campaign ----
kill "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true
PORT=$(free_port)
L="$T/svc"; mkdir -p "$L"
DISPENSE=1200s write_lab "$L" "$PORT" 600      # 2 s a dispense: the lab view can see one run
write_service "$L" "$PORT"
write_named_campaign "$L" gated 21 3 1
write_named_campaign "$L" free 22 2 1
sed -i 's/^campaign: {name: gated,/campaign: {name: gated, approve: each,/' "$L/gated.yaml"
DB="$L/lab.db"
EP="tcp://127.0.0.1:$((PORT + 1))"
"$LABLOOP" lab "$L/service.yaml" >"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
"$LABLOOP" sim "$L/lab.yaml" >"$T/sim2.log" 2>&1 & PIDS+=($!)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the lab does not answer"
"$LABLOOP" submit "$L/gated.yaml" --endpoint "$EP" >/dev/null 2>&1 || fail "submit gated"
"$LABLOOP" submit "$L/free.yaml" --endpoint "$EP" >/dev/null 2>&1 || fail "submit free"
gid="(select id from campaigns where name='gated')"
wait_until 30 q_is "select count(*) from experiments where campaign=$gid and status='proposed'" 1 || fail "gated: no proposal waiting"
"$LABLOOP" campaigns --endpoint "$EP" >"$T/campaigns.txt"
grep -Eq "^gated .*1 waiting for approval" "$T/campaigns.txt" || fail "campaigns does not count the waiting: $(cat "$T/campaigns.txt")"
rc=0; "$LABLOOP" approve --endpoint "$EP" --campaign free 1 >/dev/null 2>"$T/free.err" || rc=$?
[ "$rc" = 1 ] && grep -q "campaign 'free' has no approval gate" "$T/free.err" || fail "approve in a campaign without the gate: exit $rc, $(cat "$T/free.err")"
rc=0; "$LABLOOP" approve --endpoint "$EP" 1 >/dev/null 2>"$T/which.err" || rc=$?
[ "$rc" = 1 ] && grep -q -- "--campaign" "$T/which.err" || fail "approve without --campaign in a lab of two: exit $rc"
pass "lab service: campaigns counts the waiting; approve in a campaign without the gate, or without --campaign, refused"

# The dashboard of the lab's hub: the lab view at /, the queue with buttons
# on a campaign's page, approve through it with the token.
HP=$(free_port)
TOKEN=approve-token-1
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" --control "$EP" --token "$TOKEN" >"$T/serve.log" 2>&1 & PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/lab" -o /dev/null || fail "serve did not answer"
curl -sf "http://127.0.0.1:$HP/api/lab" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["source"] == "lab", d["source"]
c = {x["name"]: x for x in d["campaigns"]}
assert set(c) == {"gated", "free"}, c.keys()
assert c["gated"]["waiting_approval"] == 1 and c["gated"]["budget"] == 3 and c["gated"]["weight"] == 1, c["gated"]
assert {x["name"] for x in d["devices"]} >= {"ot2", "hotplate", "pl-1"}, d["devices"]
' || fail "the lab view's JSON: $(curl -s "http://127.0.0.1:$HP/api/lab")"
curl -sf "http://127.0.0.1:$HP/" >"$T/lab.html"
grep -q '<h1>Lab svc' "$T/lab.html" && grep -q 'href="/?campaign=gated">gated</a>' "$T/lab.html" && grep -q 'href="/?campaign=free">free</a>' "$T/lab.html" \
  || fail "the front page is not the lab view: $(head -c 600 "$T/lab.html")"
seq1=$(q "select seq from experiments where campaign=$gid and status='proposed'")
curl -sf "http://127.0.0.1:$HP/?campaign=gated" >"$T/gated.html"
grep -q "<tr data-seq=\"$seq1\">" "$T/gated.html" && grep -q "data-approve=\"$seq1\"" "$T/gated.html" \
  || fail "the campaign page lacks the approval queue: $(grep -o '<section id="approval".\{0,300\}' "$T/gated.html")"
grep -q "labloop approve --endpoint $EP --campaign gated N" "$T/gated.html" || fail "the queue does not show the command"
code=$(curl -s -o "$T/noauth.json" -w '%{http_code}' -X POST "http://127.0.0.1:$HP/api/control/approve?campaign=gated&experiment=$seq1")
[ "$code" = 401 ] || fail "approve without the token: HTTP $code"
[ "$(q "select status from experiments where campaign=$gid and seq=$seq1")" = proposed ] || fail "a refused dashboard approve changed the experiment"
code=$(curl -s -o "$T/auth.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:$HP/api/control/approve?campaign=gated&experiment=$seq1")
[ "$code" = 200 ] || fail "approve through the dashboard: HTTP $code $(cat "$T/auth.json")"
wait_until 30 q_is "select status != 'proposed' from experiments where campaign=$gid and seq=$seq1" 1 || fail "the dashboard's approve did not take"
q "select origin from audit where action='approve' and outcome='ok' order by id desc limit 1" | grep -q "(dashboard, browser 127.0.0.1)" \
  || fail "the audit of the dashboard's approve does not name the browser: $(q "select actor, origin from audit where action='approve' order by id desc limit 1")"
busy_ot2() { curl -sf "http://127.0.0.1:$HP/api/lab" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(x["name"] == "ot2" and x.get("campaign") == "gated" and x.get("step") == "dispense" for x in d["devices"]) else 1)'; }
wait_until 30 busy_ot2 || fail "the lab view never showed ot2 serving gated's dispense: $(curl -s "http://127.0.0.1:$HP/api/lab")"
pass "dashboard: the lab view lists both campaigns (live) and the devices; the queue with buttons; approve with the token"
for _ in $(seq 1 300); do
  [ "$(q "select status from campaigns where name='gated'")" = completed ] && break
  w=$(q "select group_concat(seq, ' ') from experiments where campaign=$gid and status='proposed'")
  if [ -n "$w" ]; then "$LABLOOP" approve --endpoint "$EP" --campaign gated $w >/dev/null 2>&1 || true; fi
  sleep 0.2
done
[ "$(q "select status from campaigns where name='gated'")" = completed ] || fail "gated did not complete: $(q "select seq, status from experiments where campaign=$gid")"
wait_until 60 q_is "select status from campaigns where name='free'" completed || fail "free did not complete"
[ "$(q "select count(*) from events where kind='experiment.approved' and campaign=$gid")" = 3 ] || fail "gated: not 3 approvals"
pass "lab service: approve --campaign gated runs its proposals; a campaign without the gate refuses; the other runs free"

# The lab service gone: the lab view comes from the hub.
kill -TERM "$LAB"; wait "$LAB" 2>/dev/null || true
curl -sf "http://127.0.0.1:$HP/api/lab" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["source"] == "hub", d["source"]
c = {x["name"]: x for x in d["campaigns"]}
assert c["gated"]["status"] == "completed" and c["gated"]["measured"] + c["gated"]["failed"] == 3, c["gated"]
assert c["free"]["status"] == "completed" and c["gated"]["waiting_approval"] == 0, c
assert all("campaign" not in x for x in d["devices"]), d["devices"]
' || fail "the lab view from the hub: $(curl -s "http://127.0.0.1:$HP/api/lab")"
curl -sf "http://127.0.0.1:$HP/" -o "$T/lab2.html" || fail "GET / failed"
grep -q "The lab service does not answer: figures from the hub" "$T/lab2.html" || fail "the lab view does not say it reads the hub"
pass "with the lab service gone the lab view reads the hub (both completed, devices idle)"
