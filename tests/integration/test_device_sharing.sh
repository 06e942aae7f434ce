# Identical instruments share the work: with one experiment in flight at a
# time, every dispatch once all three capable devices are ready finds them
# all free, and the one that has had the fewest attempts gets it, so that
# each ends with about a third (not the first in the config all of them;
# one that connected first does no more until the others have caught up).
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DB="$T/campaign.db"
cat >"$T/lab.yaml" <<YAML
lab: {name: share-lab, endpoint: "tcp://127.0.0.1:$PORT", samples: "$T/samples"}
devices:
  - {name: uv-a, driver: sim.dispenser, capabilities: [uvvis], duration: 10ms, jitter: 0}
  - {name: uv-b, driver: sim.dispenser, capabilities: [uvvis], duration: 10ms, jitter: 0}
  - {name: uv-c, driver: sim.dispenser, capabilities: [uvvis], duration: 10ms, jitter: 0}
YAML
cat >"$T/campaign.yaml" <<YAML
campaign: {name: share, seed: 3, budget: {experiments: 300}}
space:
  - {name: x, type: real, low: 0, high: 1}
objectives:
  - {name: v, goal: minimize, from: measure.volume_ul}
planner: {kind: random, batch: 1}
workflow:
  - {step: measure, capability: uvvis, params: {x: "\${x}"}}
devices:
  - {name: uv-a, capabilities: [uvvis]}
  - {name: uv-b, capabilities: [uvvis]}
  - {name: uv-c, capabilities: [uvvis]}
endpoints: {devices: "tcp://127.0.0.1:$PORT", control: "tcp://127.0.0.1:$((PORT + 1))"}
heartbeat: {interval: 250ms, liveness: 12}
hub: campaign.db
YAML
# Workers without an on-disk outbox: the share is about the orchestrator's
# choice, and the two fsyncs a crash-safe worker makes per step would make
# its round trips (and so the share) depend on the disk.
# Each step takes 10 ms, so the campaign lasts seconds, not the tenth of a
# second a null device takes: long enough for every worker to register even
# on a loaded machine; the run starts once all three worker processes have.
"$LABLOOP" sim "$T/lab.yaml" --no-outbox >"$T/sim.log" 2>&1 & PIDS+=($!)
wait_until 30 bash -c "[ \$(grep -c 'no outbox directory' '$T/sim.log') -ge 3 ]" || fail "the simulated lab's workers did not start"
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
[ "$(q "select count(*) from experiments where status='measured'")" = 300 ] || fail "not every experiment was measured"
# A loaded machine may stall a worker past its liveness window; it then
# reconnects and is ready again. That is not what this test is about, so
# only require every device to have been ready, and count from the last.
[ "$(q "select count(distinct subject) from events where kind='device.ready'")" = 3 ] || fail "expected all three devices ready"
lost=$(q "select count(*) from events where kind='device.lost'")
[ "$lost" = 0 ] || echo "note: $lost device losses under load; the share is counted over all attempts"
# attempts dispatched once every device was ready
after="from steps where queued_us > (select max(t) from (select min(t_us) t from events where kind='device.ready' group by subject))"
n=$(q "select count(*) $after")
[ "$n" -ge 60 ] || fail "too few attempts after all devices were ready ($n): the devices took too long to connect"
counts=$(q "select group_concat(device || '=' || n, ' ') from (select device, count(*) n from steps group by device order by device)")
echo "attempts per device: $counts ($n after all were ready)"
[ "$(q "select count(distinct device) from steps")" = 3 ] || fail "not every device was used: $counts"
[ "$(q "select max(c) - min(c) <= 2 from (select count(*) c from steps group by device)")" = 1 ] || fail "uneven share: $counts"
pass "three identical devices shared 300 attempts: $counts"
