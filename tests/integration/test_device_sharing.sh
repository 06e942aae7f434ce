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
  - {name: uv-a, driver: null, capabilities: [uvvis]}
  - {name: uv-b, driver: null, capabilities: [uvvis]}
  - {name: uv-c, driver: null, capabilities: [uvvis]}
YAML
cat >"$T/campaign.yaml" <<YAML
campaign: {name: share, seed: 3, budget: {experiments: 300}}
space:
  - {name: x, type: real, low: 0, high: 1}
objectives:
  - {name: v, goal: minimize, from: measure.x}
planner: {kind: random, batch: 1}
workflow:
  - {step: measure, capability: uvvis, params: {x: "\${x}"}}
devices:
  - {name: uv-a, capabilities: [uvvis]}
  - {name: uv-b, capabilities: [uvvis]}
  - {name: uv-c, capabilities: [uvvis]}
endpoints: {devices: "tcp://127.0.0.1:$PORT", control: "tcp://127.0.0.1:$((PORT + 1))"}
heartbeat: {interval: 200ms, liveness: 3}
hub: campaign.db
YAML
# Workers without an on-disk outbox: the share is about the orchestrator's
# choice, and the two fsyncs a crash-safe worker makes per step would make
# its round trips (and so the share) depend on the disk.
"$LABLOOP" sim "$T/lab.yaml" --no-outbox >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
[ "$(q "select count(*) from experiments where status='measured'")" = 300 ] || fail "not every experiment was measured"
[ "$(q "select count(*) from events where kind='device.ready'")" = 3 ] || fail "expected three devices ready once each"
# attempts dispatched once every device was ready
after="from steps where queued_us > (select max(t_us) from events where kind='device.ready')"
n=$(q "select count(*) $after")
[ "$n" -ge 60 ] || fail "too few attempts after all devices were ready ($n): the devices took too long to connect"
counts=$(q "select group_concat(device || '=' || n, ' ') from (select device, count(*) n from steps group by device order by device)")
echo "attempts per device: $counts ($n after all were ready)"
[ "$(q "select count(distinct device) from steps")" = 3 ] || fail "not every device was used: $counts"
[ "$(q "select max(c) - min(c) <= 2 from (select count(*) c from steps group by device)")" = 1 ] || fail "uneven share: $counts"
pass "three identical devices shared 300 attempts: $counts"
