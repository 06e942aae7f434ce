# A lab service (labloop lab) with two campaigns submitted to it, sharing
# the simulated lab's devices by weight (1 and 2): campaigns and status
# --campaign answer for each, a pause of one leaves the other running, both
# complete, and while both had work each got its weighted share of the
# steps (within 10 %). Then an e-stop halts every campaign of the lab.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_lab "$T" "$PORT" 600
write_service "$T" "$PORT"
write_named_campaign "$T" a 11 40 8
write_named_campaign "$T" b 12 40 8
DB="$T/lab.db"
EP="tcp://127.0.0.1:$((PORT + 1))"

# A lab config is checked like a campaign config: file:line:col.
printf 'lab: {name: svc}\ndevices:\n  - {name: ot2, capabilitys: [x]}\n' >"$T/bad-lab.yaml"
rc=0; out=$("$LABLOOP" lab "$T/bad-lab.yaml" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "a bad lab config: exit $rc"
echo "$out" | grep -q "bad-lab.yaml:3:.*capabilitys" || fail "no file:line:col for the bad key: $out"
pass "a bad lab config is refused with file:line:col"

"$LABLOOP" lab "$T/service.yaml" >"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the lab does not answer"

# A campaign the lab cannot run is refused, with where in its file.
sed 's/capability: pl_spectrometer/capability: xrd/' "$T/a.yaml" >"$T/xrd.yaml"
rc=0; out=$("$LABLOOP" submit "$T/xrd.yaml" --endpoint "$EP" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "a campaign needing a capability the lab lacks was taken"
echo "$out" | grep -q "xrd.yaml:[0-9]*:[0-9]*: step 'measure_pl': no device provides capability 'xrd'" \
  || fail "the refusal does not say where: $out"
[ "$(q "select count(*) from campaigns")" = 0 ] || fail "a refused campaign is in the hub"
pass "submit of a campaign the lab's devices cannot run: refused with file:line:col, nothing recorded"

"$LABLOOP" submit "$T/a.yaml" --endpoint "$EP" --weight 1 >"$T/submit-a.out" 2>&1 || fail "submit a: $(cat "$T/submit-a.out")"
grep -q "its 'devices' section is ignored" "$T/submit-a.out" || fail "submit does not say the campaign's devices are ignored"
"$LABLOOP" submit "$T/b.yaml" --endpoint "$EP" --weight 2 >"$T/submit-b.out" 2>&1 || fail "submit b: $(cat "$T/submit-b.out")"
rc=0; out=$("$LABLOOP" submit "$T/b.yaml" --endpoint "$EP" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "already in lab" || fail "a second submit of b was taken: $out"
pass "two campaigns submitted (weights 1 and 2); their lab sections are said to be ignored"

"$LABLOOP" campaigns --endpoint "$EP" >"$T/campaigns.out" || fail "campaigns failed"
grep -Eq '^a +running' "$T/campaigns.out" && grep -Eq '^b +running' "$T/campaigns.out" \
  || fail "campaigns does not list a and b running: $(cat "$T/campaigns.out")"
"$LABLOOP" campaigns --endpoint "$EP" --json | grep -q '"weight":2' || fail "campaigns --json lacks b's weight"
"$LABLOOP" status --endpoint "$EP" --campaign b --json | grep -q '"campaign":"b"' || fail "status --campaign b"
rc=0; out=$("$LABLOOP" status --endpoint "$EP" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q -- "--campaign" || fail "status without --campaign in a lab of two: $out"
pass "campaigns lists both; status --campaign answers for one; without it the lab asks which"

# Pause a: b goes on, a gets no new step.
wait_until 30 q_atleast "select count(*) from steps where campaign = (select id from campaigns where name='a')" 3 \
  || fail "a got no steps"
"$LABLOOP" pause --endpoint "$EP" --campaign a --reason "checking the stock" >/dev/null || fail "pause a"
"$LABLOOP" status --endpoint "$EP" --campaign a --json | grep -q '"status":"paused"' || fail "a is not paused"
now_us t_pause
b0=$(q "select count(*) from steps where campaign = (select id from campaigns where name='b')")
wait_until 30 q_atleast "select count(*) from steps where campaign = (select id from campaigns where name='b')" $((b0 + 6)) \
  || fail "b made no progress while a was paused"
[ "$(q "select count(*) from steps where campaign = (select id from campaigns where name='a') and queued_us > $t_pause")" = 0 ] \
  || fail "a paused campaign got new steps"
"$LABLOOP" status --endpoint "$EP" --campaign b --json | grep -q '"status":"running"' || fail "b stopped with a's pause"
"$LABLOOP" resume --endpoint "$EP" --campaign a >/dev/null || fail "resume a"
pass "a paused: b went on ($b0 -> more steps), a got none; a resumed"

wait_until 240 q_is "select count(*) from campaigns where status = 'completed'" 2 || fail "the two campaigns did not complete"
for c in a b; do
  [ "$(q "select count(*) from experiments e join campaigns c on c.id = e.campaign where c.name='$c' and e.status in ('measured','failed')")" = 40 ] \
    || fail "campaign $c does not have 40 finished experiments"
done
kill -0 "$LAB" 2>/dev/null || fail "the lab stopped when its campaigns ended"
grep -q "campaign ended" "$T/sim.log" && fail "workers were told a campaign ended (the lab goes on)"
pass "both campaigns completed; the lab and its workers go on"

# The weighted share, while both had steps to run (share_check.py: from
# a's resume to the last first step of whichever ran out of experiments
# first): b's 2/3 within 10 %.
python3 "$(dirname "$0")/share_check.py" "$DB" dispense a:1 b:2 --min-steps 10 >"$T/share.out" 2>&1 \
  || fail "weighted share: $(cat "$T/share.out")"
pass "weighted share while both ran: $(tr -s ' \n' ' ' <"$T/share.out")"

# E-stop is lab-wide: two new campaigns, both halted.
write_named_campaign "$T" c 13 400 3
write_named_campaign "$T" d 14 400 3
"$LABLOOP" submit "$T/c.yaml" --endpoint "$EP" >/dev/null || fail "submit c"
"$LABLOOP" submit "$T/d.yaml" --endpoint "$EP" >/dev/null || fail "submit d"
wait_until 30 q_atleast "select count(*) from steps s join campaigns c on c.id = s.campaign where c.name='d'" 2 || fail "d got no steps"
"$LABLOOP" estop --endpoint "$EP" --reason "test" >/dev/null || fail "estop"
"$LABLOOP" campaigns --endpoint "$EP" >"$T/campaigns2.out"
grep -Eq '^c +halted' "$T/campaigns2.out" && grep -Eq '^d +halted' "$T/campaigns2.out" \
  || fail "the e-stop did not halt both: $(cat "$T/campaigns2.out")"
wait_until 10 q_is "select count(*) from campaigns where name in ('c','d') and status='halted'" 2 || fail "hub: not both halted"
grep -Eq '^a +completed' "$T/campaigns2.out" || fail "an ended campaign changed with the e-stop"
"$LABLOOP" clear-estop --endpoint "$EP" >/dev/null || fail "clear-estop"
"$LABLOOP" campaigns --endpoint "$EP" | grep -Eq '^c +paused' || fail "clear-estop did not leave c paused"
pass "e-stop halted both running campaigns of the lab; clear-estop left them paused"

kill -TERM "$LAB"; wait "$LAB" || fail "the lab exited $? on SIGTERM"
pass "the lab stops on SIGTERM"
