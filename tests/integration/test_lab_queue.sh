# A lab service's queue and exclusive devices:
# - lab.max_campaigns: 2 with three campaigns submitted: the third waits as
#   queued (place 1), takes no device, and starts by itself when one of the
#   first two ends; a queued campaign survives a SIGKILL of the lab.
# - campaign.exclusive: [pl-2]: while that campaign is active no other
#   campaign's step goes to pl-2 (also after the lab is SIGKILLed and
#   restarted); once it ends the others use pl-2 again. A submit asking for
#   a device another campaign holds, or for a device the lab lacks, is
#   refused.
# - The lab's end webhooks name the campaign that ended, with its summary.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
cat >"$T/lab.yaml" <<YAML
lab: {name: it-lab, endpoint: "tcp://127.0.0.1:$PORT", speed: 600, samples: "$T/samples", seed: 3}
model: {kind: nanocrystal_pl, noise: 0.02}
devices:
  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler], capacity: 2, duration: 20s}
  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 16, duration: 10s}
  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl_spectrometer], duration: 30s}
  - {name: pl-2, driver: sim.spectrometer, capabilities: [pl_spectrometer], duration: 30s}
YAML
write_service "$T" "$PORT"
sed -i 's/^lab: {name: svc}/lab: {name: svc, max_campaigns: 2}/' "$T/service.yaml"
sed -i 's/^  - {name: pl-1, capabilities: \[pl_spectrometer\]}/&\n  - {name: pl-2, capabilities: [pl_spectrometer]}/' "$T/service.yaml"
grep -q pl-2 "$T/service.yaml" || fail "test setup: no pl-2 in the lab config"
HOOKS="$T/hooks.jsonl"
python3 "$(dirname "$0")/hook_receiver.py" "$T/hook.port" "$HOOKS" >"$T/receiver.log" 2>&1 & PIDS+=($!)
wait_until 10 test -s "$T/hook.port" || fail "the receiver did not start"
printf 'notify:\n  - {url: "http://127.0.0.1:%s/ok", events: [end, device.lost]}\n' "$(cat "$T/hook.port")" >>"$T/service.yaml"
write_named_campaign "$T" long 11 60 4     # shares the lab with the others
write_named_campaign "$T" excl 12 14 2     # holds pl-2
write_named_campaign "$T" third 13 6 2     # waits in the queue
sed -i 's/^campaign: {name: excl, \(.*\)}$/campaign: {name: excl, \1, exclusive: [pl-2]}/' "$T/excl.yaml"
grep -q 'exclusive: \[pl-2\]' "$T/excl.yaml" || fail "test setup: excl.yaml is not exclusive"
DB="$T/lab.db"
EP="tcp://127.0.0.1:$((PORT + 1))"

"$LABLOOP" lab "$T/service.yaml" >"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the lab does not answer"

# A device the lab does not have: refused, with where in the file.
sed 's/exclusive: \[pl-2\]/exclusive: [pl-9]/; s/name: excl,/name: nine,/' "$T/excl.yaml" >"$T/nine.yaml"
rc=0; out=$("$LABLOOP" submit "$T/nine.yaml" --endpoint "$EP" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "nine.yaml:1:[0-9]*: campaign.exclusive: no device named 'pl-9'" \
  || fail "an exclusive device the lab lacks: rc $rc: $out"
pass "exclusive use of a device the lab lacks: refused with file:line:col"

"$LABLOOP" submit "$T/long.yaml" --endpoint "$EP" >/dev/null || fail "submit long"
wait_until 30 q_atleast "select count(*) from steps where device = 'pl-2'" 1 || fail "long never used pl-2"
"$LABLOOP" submit "$T/excl.yaml" --endpoint "$EP" >"$T/submit.out" 2>&1 || fail "submit excl: $(cat "$T/submit.out")"
now_us t_excl
"$LABLOOP" submit "$T/third.yaml" --endpoint "$EP" >"$T/submit.out" 2>&1 || fail "submit third: $(cat "$T/submit.out")"
grep -q "campaign third is queued" "$T/submit.out" || fail "the third is not said to be queued: $(cat "$T/submit.out")"
"$LABLOOP" campaigns --endpoint "$EP" | grep -Eq '^third +queued #1' \
  || fail "campaigns does not show third queued first: $("$LABLOOP" campaigns --endpoint "$EP")"
[ "$(q "select status from campaigns where name='third'")" = queued ] || fail "the hub does not have third queued"
"$LABLOOP" status --endpoint "$EP" --campaign third | grep -q "queued: place 1" || fail "status does not show third's place"
rc=0; out=$("$LABLOOP" pause --endpoint "$EP" --campaign third 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "is queued" || fail "pause of a queued campaign: $out"
pass "max_campaigns 2: the third campaign waits as queued (place 1)"

sed 's/name: excl,/name: again,/' "$T/excl.yaml" >"$T/again.yaml"
rc=0; out=$("$LABLOOP" submit "$T/again.yaml" --endpoint "$EP" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "device 'pl-2' is held exclusively by campaign 'excl'" \
  || fail "a second exclusive claim on pl-2 was not refused: $out"
[ "$(q "select count(*) from campaigns where name='again'")" = 0 ] || fail "the refused campaign is in the hub"
pass "a submit asking for pl-2, held by excl, is refused"

# SIGKILL the lab while excl holds pl-2 and third waits; restart it.
wait_until 60 q_atleast "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name='excl' and s.status='done'" 3 \
  || fail "excl made no progress"
kill -KILL "$LAB"; wait "$LAB" 2>/dev/null || true
"$LABLOOP" lab "$T/service.yaml" >>"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the restarted lab does not answer"
"$LABLOOP" campaigns --endpoint "$EP" | grep -Eq '^third +queued #1' \
  || fail "after the restart third is not queued: $("$LABLOOP" campaigns --endpoint "$EP")"
pass "after a SIGKILL and restart the third is still queued"

wait_until 120 q_is "select status from campaigns where name='excl'" completed || fail "excl did not complete"
t_end=$(q "select updated_us from campaigns where name='excl'")
# Steps of others dispatched to pl-2 while excl held it (a few ms of slack
# for a step that was already running when excl came: those finish).
n=$(q "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name <> 'excl' and s.device='pl-2' and s.queued_us > $t_excl and s.queued_us < $t_end")
[ "$n" = 0 ] || fail "$n steps of other campaigns went to pl-2 while excl held it"
[ "$(q "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name='excl' and s.device='pl-2'")" -ge 1 ] \
  || fail "excl never used pl-2"
pass "while excl was active (restart included) no other campaign's step went to pl-2"

wait_until 60 q_is "select status from campaigns where name='third'" completed || fail "third did not start and complete"
t_third=$(q "select min(t_us) from events e join campaigns c on c.id = e.campaign where c.name='third' and e.kind='campaign.status' and json_extract(e.detail,'$.reason')='started from the queue'")
[ -n "$t_third" ] && [ "$t_third" -ge "$t_end" ] || fail "third did not start from the queue after excl ended ($t_third, $t_end)"
[ "$(q "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name='third' and s.queued_us < $t_third")" = 0 ] \
  || fail "third got steps while queued"
wait_until 60 q_atleast "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name <> 'excl' and s.device='pl-2' and s.queued_us > $t_end" 1 \
  || fail "pl-2 is not shared again after excl ended"
pass "excl ended: third started from the queue, pl-2 is shared again"
wait_until 120 q_is "select count(*) from campaigns where status='completed'" 3 || fail "not all three completed"
pass "all three completed"

# An e-stop on a lab with no campaign active still holds: a campaign
# submitted meanwhile waits as queued, gets no step, and starts only once the
# e-stop is cleared.
"$LABLOOP" estop --endpoint "$EP" --reason "test: lab-wide stop" >"$T/estop.out" 2>&1 \
  || fail "estop of an idle lab: $(cat "$T/estop.out")"
write_named_campaign "$T" late 14 4 2
"$LABLOOP" submit "$T/late.yaml" --endpoint "$EP" >"$T/submit.out" 2>&1 || fail "submit late: $(cat "$T/submit.out")"
grep -q "campaign late is queued" "$T/submit.out" || fail "late is not said to be queued: $(cat "$T/submit.out")"
sleep 1
[ "$(q "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name='late'")" = 0 ] \
  || fail "late got steps while the lab was e-stopped"
[ "$(q "select status from campaigns where name='late'")" = queued ] || fail "late is not queued in the hub"
# The e-stop holds across a SIGKILL and restart of the lab.
kill -KILL "$LAB"; wait "$LAB" 2>/dev/null || true
"$LABLOOP" lab "$T/service.yaml" >>"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the lab restarted e-stopped does not answer"
sleep 1
[ "$(q "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name='late'")" = 0 ] \
  || fail "late got steps after a restart of the e-stopped lab"
"$LABLOOP" campaigns --endpoint "$EP" | grep -Eq '^late +queued' \
  || fail "after the restart late is not queued: $("$LABLOOP" campaigns --endpoint "$EP")"
"$LABLOOP" clear-estop --endpoint "$EP" >"$T/clear.out" 2>&1 || fail "clear-estop: $(cat "$T/clear.out")"
wait_until 60 q_is "select status from campaigns where name='late'" completed || fail "late did not start and complete after clear-estop"
pass "an e-stopped lab with no campaign active keeps a new campaign queued until the e-stop is cleared, across a restart"
kill -TERM "$LAB"; wait "$LAB" || fail "the lab exited $? on SIGTERM"

# Delivered before the lab exits (it waits for its webhooks).
python3 - "$HOOKS" <<'PY' || fail "end webhooks: $(cat "$HOOKS")"
import json, sys
bodies = [json.loads(l)["body"] for l in open(sys.argv[1])]
for c in ("long", "excl", "third"):
    ends = [b for b in bodies if isinstance(b, dict) and b.get("event") == "end" and b.get("campaign") == c]
    if not (len(ends) == 1 and ends[0]["status"] == "completed" and ends[0]["summary"]["experiments"] > 0):
        sys.exit(f"campaign {c}: end webhooks {ends}")
PY
pass "each campaign's end webhook names it, with its own summary"

# labloop log of a lab hub: the lab's own events (its devices) marked as
# the lab's, the campaign's submission and exclusive hold as sentences.
"$LABLOOP" log "$DB" --campaign excl >"$T/log.out" || fail "labloop log --campaign excl"
grep -q '\[lab svc\] device pl-2 ready' "$T/log.out" || fail "log: no lab device line: $(head -5 "$T/log.out")"
grep -q 'campaign excl submitted to lab svc by .* (weight 1)' "$T/log.out" || fail "log: no submission sentence"
grep -q 'device pl-2 held exclusively by campaign excl' "$T/log.out" || fail "log: no exclusive hold sentence"
grep -q 'device pl-2 shared again (campaign excl ended)' "$T/log.out" || fail "log: no release sentence"
pass "labloop log marks the lab's own events and tells of the exclusive hold"
