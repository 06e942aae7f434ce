# A small closed-loop campaign with real processes on loopback: the simulated
# lab (one worker process per device) and the orchestrator; then the hub.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_lab "$T" "$PORT" 3000
write_campaign "$T" "$PORT" 12 3
sed -i 's/^hub: campaign.db$/hub: results\/campaign.db/' "$T/campaign.yaml"   # a folder that does not exist yet
DB="$T/results/campaign.db"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
grep -q "campaign it completed: 12 experiments" "$T/run.log" || fail "no summary line"
grep -q "^hub: " "$T/run.log" || fail "summary does not name the hub"
pass "campaign ran to completion"

check_hub_complete 12
[ "$(q "select count(*) from devices where status='ready'")" = 3 ] || fail "devices not recorded ready"
[ "$(q "select count(*) from events where kind='device.ready'")" -ge 3 ] || fail "device.ready events missing"
[ "$(q "select count(distinct json_extract(detail,'$.device')) from event_log where kind='step.dispatched'")" = 3 ] || fail "steps did not use all 3 devices"
pass "hub holds every experiment, step and event"

# Steps of different experiments overlapped in time on different devices.
overlap=$(q "select count(*) from steps a join steps b on a.experiment < b.experiment and a.device != b.device
             where a.status='done' and b.status='done' and a.started_us < b.finished_us and b.started_us < a.finished_us")
[ "$overlap" -gt 0 ] || fail "no two experiments ran at once (batch 3)"
pass "experiments ran in parallel ($overlap overlapping step pairs)"

# The log command reads the hub: text and JSON.
"$LABLOOP" log "$DB" >"$T/log.txt" || fail "labloop log failed"
grep -q "experiment 1 proposed" "$T/log.txt" || fail "log lacks the first proposal"
grep -q "campaign it completed" "$T/log.txt" || fail "log lacks the end"
"$LABLOOP" log "$DB" --json >"$T/log.jsonl" || fail "labloop log --json failed"
[ "$(wc -l <"$T/log.jsonl")" = "$(q 'select count(*) from events')" ] || fail "log --json does not print one line per event"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/log.jsonl" || fail "log --json is not JSON lines"
pass "labloop log prints the timeline (text and JSON)"

# Running the same campaign into the same hub again is refused clearly.
if "$LABLOOP" run "$T/campaign.yaml" >"$T/again.log" 2>&1; then fail "second run into the same hub succeeded"; fi
grep -q "campaign 'it' in .* already ended (completed)" "$T/again.log" || fail "unclear message for a second run: $(cat "$T/again.log")"
pass "a second run into the same hub is refused"
