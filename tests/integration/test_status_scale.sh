# `labloop status` with 1,000 connected devices: the reply (a few hundred
# KiB) is read whole; by default the devices are counted by state with a
# few rows shown, --all lists every device, --json holds them all. The
# devices are one `labloop bench swarm` process (1,000 null devices, each
# step taking 2 s so that steps are running when status asks).
source "$(dirname "$0")/lib.sh"
N=1000
PORT=$(free_port)
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
{
  cat <<YAML
campaign: {name: scale, seed: 5, budget: {experiments: 100000}}
space:
  - {name: x, type: real, low: 0, high: 1}
objectives:
  - {name: v, goal: minimize, from: measure.x}
planner: {kind: random, batch: 40}
workflow:
  - {step: measure, capability: uvvis, params: {x: "\${x}"}}
endpoints: {devices: "tcp://127.0.0.1:$PORT", control: "tcp://127.0.0.1:$((PORT + 1))"}
heartbeat: {interval: 1s, liveness: 10}
hub: campaign.db
devices:
YAML
  for ((i = 0; i < N; i++)); do echo "  - {name: w$i, capabilities: [uvvis]}"; done
} >"$T/campaign.yaml"
"$LABLOOP" bench swarm --endpoint "tcp://127.0.0.1:$PORT" --devices $N --capability uvvis --step-ms 2000 \
  >"$T/swarm.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 40 q_is "select count(*) from devices where status='ready'" $N || fail "the $N devices did not all register"
wait_until 20 q_atleast "select count(*) from steps where status='dispatched'" 1 || fail "no step running"

"$LABLOOP" status $C >"$T/status.out" 2>"$T/status.err" || fail "status failed: $(cat "$T/status.err")"
grep -q "^devices: $N ($N ready, 0 lost, 0 offline;" "$T/status.out" || fail "no device count: $(head -5 "$T/status.out")"
grep -q "^\.\.\. and [0-9]* more devices (labloop status --all" "$T/status.out" || fail "the device rows were not cut"
rows=$(grep -cE '^w[0-9]+ +ready' "$T/status.out" || true)
[ "$rows" -ge 1 ] && [ "$rows" -le 20 ] || fail "expected 1 to 20 device rows by default, got $rows"
grep -q "^running steps:" "$T/status.out" || fail "no running steps shown"

"$LABLOOP" status $C --all >"$T/status-all.out" 2>"$T/status.err" || fail "status --all failed: $(cat "$T/status.err")"
rows=$(grep -cE '^w[0-9]+ +ready' "$T/status-all.out" || true)
[ "$rows" = $N ] || fail "status --all listed $rows devices, not $N"

"$LABLOOP" status $C --json >"$T/status.json" 2>"$T/status.err" || fail "status --json failed: $(cat "$T/status.err")"
python3 - "$T/status.json" $N <<'PY' || fail "status --json is not the whole lab"
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert r["ok"] is True
assert len(r["devices"]) == n, len(r["devices"])
assert len({d["name"] for d in r["devices"]}) == n
assert all(d["state"] == "ready" for d in r["devices"])
assert len(r["running"]) >= 1
PY
size=$(wc -c <"$T/status.json")
[ "$size" -gt 65536 ] || fail "the reply ($size bytes) is not larger than the old 64 KiB limit: the test proves nothing"

"$LABLOOP" abort $C >/dev/null || fail "abort failed"
wait "$RUN" || true
q_is "select status from campaigns" aborted || fail "campaign not aborted"
pass "status with $N devices: counts, --all ($N rows) and --json ($size bytes)"
