# Malformed messages, wrong versions, oversized frames and unknown devices
# get a clear answer (or are dropped and logged) and change nothing else:
# the campaign still completes and the hub stays whole.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DISPENSE=120s write_lab "$T" "$PORT" 60     # 2 s per dispense: time to poke
write_campaign "$T" "$PORT" 6 2
DB="$T/campaign.db"
EP="tcp://127.0.0.1:$PORT"
Z="$TOOLS/zpoke"
[ -x "$Z" ] || fail "zpoke not built at $Z"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 q_atleast "select count(*) from events where kind='device.ready'" 3 || fail "devices did not register"

out=$("$Z" "$EP" intruder hello) ; echo "$out"
echo "$out" | grep -q "reply: refuse .*not in campaign 'it'" || fail "unknown device not refused clearly: $out"
out=$("$Z" "$EP" ot2-fake hello pl_spectrometer); echo "$out"
echo "$out" | grep -q "reply: refuse" || fail "unlisted device not refused"
out=$("$Z" "$EP" lab-x badversion); echo "$out"
echo "$out" | grep -q "reply: refuse under version 9: .*version 9 is not supported" || fail "wrong version not refused clearly, under the peer's version byte: $out"
for kind in garbage badsig oversize noenvelope extraframes result; do
  out=$("$Z" "$EP" "poke-$kind" "$kind"); echo "$kind: $out"
  kill -0 "$RUN" 2>/dev/null || fail "orchestrator died on a '$kind' message"
done
pass "bad messages answered or dropped; the orchestrator is alive"

wait "$RUN" || fail "labloop run exited $?"
check_hub_complete 6
bad=$(q "select count(*) from events where kind='message.bad'")
[ "$bad" -ge 5 ] || fail "bad messages were not logged (only $bad)"
[ "$(q "select count(*) from events where kind='device.refused'")" -ge 3 ] || fail "refusals not logged"
[ "$(q "select count(*) from devices where name in ('intruder','ot2-fake')")" = 0 ] || fail "refused devices were recorded as lab devices"
pass "campaign completed; $bad bad messages and the refusals are in the hub's event log"

# A registered device that answers its step under a mangled attempt id
# ("/01" for "/1") must not stop the campaign: the answer is ignored, the
# device is lost when it leaves, and its step runs again elsewhere.
PORT=$(free_port)
DISPENSE=60s write_lab "$T" "$PORT" 120
write_campaign "$T" "$PORT" 4 1
sed -i 's/  - {name: ot2, capabilities: \[liquid_handler\]}/  - {name: ot2, capabilities: [liquid_handler]}\n  - {name: mangler, capabilities: [liquid_handler]}\n  - {name: liar, capabilities: [liquid_handler]}/' "$T/campaign.yaml"
grep -q mangler "$T/campaign.yaml" || fail "test setup: no mangler device"
DB="$T/campaign2.db"
"$Z" "tcp://127.0.0.1:$PORT" mangler mangle liquid_handler >"$T/mangle.log" 2>&1 & MANGLE=$!; PIDS+=($MANGLE)
"$LABLOOP" run "$T/campaign.yaml" --db "$DB" >"$T/run2.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 grep -q "mangled:" "$T/mangle.log" || fail "the mangler never got a step"
"$Z" "tcp://127.0.0.1:$PORT" liar badartifact liquid_handler >"$T/liar.log" 2>&1 & PIDS+=($!)
wait_until 20 grep -q "lied about" "$T/liar.log" || fail "the liar never got a step"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim2.log" 2>&1 & PIDS+=($!)
wait "$RUN" || fail "labloop run exited $? after a mangled attempt id"
cat "$T/mangle.log"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete"
[ "$(q "select count(*) from steps where device='mangler' and status='done'")" = 0 ] || fail "a mangled result was taken as done"
[ "$(q "select count(*) from steps where device='mangler' and status='lost'")" = 1 ] || fail "the mangler's attempt was not ended as lost"
pass "a mangled attempt id is ignored; the campaign completed"
[ "$(q "select count(*) from artifacts where name='spectrum.csv' and content is null")" = 1 ] || fail "an artifact whose bytes do not match its hash was stored with them"
[ "$(q "select count(*) from artifacts where content is not null")" = 0 ] || fail "unverified artifact bytes in the hub"
[ "$(q "select count(*) from events where kind='message.bad' and detail like '%does not match its sha256%'")" = 1 ] || fail "the mismatch was not logged"
pass "an artifact whose bytes do not match its sha256 is recorded by hash only and logged"
