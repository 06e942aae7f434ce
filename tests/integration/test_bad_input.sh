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
echo "$out" | grep -q "reply: refuse .*version 9 is not supported" || fail "wrong version not refused clearly: $out"
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
