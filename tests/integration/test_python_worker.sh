# A campaign on three kinds of worker at once: the simulated lab's C workers
# (ot2, hotplate), the Python client (devices/python/example_uvvis.py, the
# UV-vis measure step) and an exec-driver worker (`labloop worker --config`,
# the archive step, writing an artifact). The campaign must complete with
# every step's results in the hub. All of them use CURVE: the Python
# client's keys, the exec worker's `keys:`, the simulated lab's `keys: DIR`.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# Skip nothing silently: the Python client needs these Debian packages, for
# Debian's interpreter (a python3 earlier on PATH, e.g. pyenv, lacks them).
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import zmq' 2>/dev/null || fail "python3-zmq is missing for $PY: apt-get install python3-zmq (or make deps)"
"$PY" -c 'import google.protobuf' 2>/dev/null || fail "python3-protobuf is missing for $PY: apt-get install python3-protobuf (or make deps)"
export LABLOOP_PYTHON_GEN=${LABLOOP_PYTHON_GEN:-$(dirname "$LABLOOP")/gen/python}
[ -f "$LABLOOP_PYTHON_GEN/labloop_pb2.py" ] || fail "no $LABLOOP_PYTHON_GEN/labloop_pb2.py: build it with make (needs protobuf-compiler)"

PORT=$(free_port)
N=8
for k in lab ot2 hotplate uvvis-1 archive-1; do "$LABLOOP" keygen "$k" --dir "$T/keys" >/dev/null; done
DB="$T/campaign.db"

cat >"$T/lab.yaml" <<YAML
lab: {name: py-lab, endpoint: "tcp://127.0.0.1:$PORT", speed: 3000, samples: "$T/samples", seed: 3, keys: "$T/keys"}
devices:
  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler], duration: 60s}
  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 4, duration: "\${time}"}
YAML

cat >"$T/archive.sh" <<'SH'
# the exec contract: params on stdin and in LABLOOP_PARAM_*, results on stdout
params=$(cat)
printf '%s\n' "$params" > "$LABLOOP_ARTIFACTS/params.json"
printf 'sample %s\n' "$LABLOOP_SAMPLE" > "$LABLOOP_ARTIFACTS/label.txt"
echo "archiving $LABLOOP_ATTEMPT" >&2
printf '{"shelf": %s, "archived": "yes"}\n' "$LABLOOP_PARAM_SHELF"
SH

cat >"$T/archive.yaml" <<YAML
name: archive-1
endpoint: tcp://127.0.0.1:$PORT
driver: exec
keys: {key: $T/keys/archive-1.key, orchestrator: $T/keys/lab.pub}
reconnect: {min: 100ms, max: 1s}
exec:
  artifacts: $T/artifacts
  keep_artifacts: true
  commands:
    archive: [sh, $T/archive.sh]
YAML

cat >"$T/campaign.yaml" <<YAML
campaign: {name: it, seed: ${SEED:-11}, budget: {experiments: $N}}
space:
  - {name: cs_pb_ratio, type: real, low: 0.2, high: 1.5}
  - {name: temperature, type: real, low: 120, high: 220, unit: degC}
  - {name: time, type: real, low: 5, high: 600, unit: s, scale: log}
objectives:
  - {name: absorbance, goal: maximize, from: measure_uvvis.absorbance_max}
planner: {kind: sobol, batch: 2}
workflow:
  - {step: dispense, capability: liquid_handler, params: {cs_pb_ratio: "\${cs_pb_ratio}"}}
  - {step: heat, capability: hotplate, after: [dispense], params: {temperature: "\${temperature}", time: "\${time}"}}
  - {step: measure_uvvis, capability: uvvis, after: [heat], params: {ratio: "\${cs_pb_ratio}", temperature: "\${temperature}"}, timeout: 30s}
  - {step: archive, capability: archive, after: [measure_uvvis], params: {shelf: "\${temperature}"}, timeout: 30s}
devices:
  - {name: ot2, key: keys/ot2.pub, capabilities: [liquid_handler]}
  - {name: hotplate, key: keys/hotplate.pub, capabilities: [hotplate], capacity: 4}
  - {name: uvvis-1, key: keys/uvvis-1.pub, capabilities: [uvvis]}
  - {name: archive-1, key: keys/archive-1.pub, capabilities: [archive]}
endpoints: {devices: "tcp://127.0.0.1:$PORT", control: "tcp://127.0.0.1:$((PORT + 1))"}
heartbeat: {interval: 200ms, liveness: 5}
hub: campaign.db
security: {key: keys/lab.key}
YAML

"$LABLOOP" worker --config "$T/archive.yaml" --check >"$T/check.log" 2>&1 || fail "worker --check: $(cat "$T/check.log")"
grep -q "command archive: sh" "$T/check.log" || fail "worker --check summary lacks the command"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$PY" "$ROOT/devices/python/example_uvvis.py" --name uvvis-1 --endpoint "tcp://127.0.0.1:$PORT" \
  --capability uvvis --duration 0.02 --key "$T/keys/uvvis-1.key" --orchestrator-key "$T/keys/lab.pub" \
  >"$T/uvvis.log" 2>&1 & PIDS+=($!)
"$LABLOOP" worker --config "$T/archive.yaml" >"$T/archive.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
grep -q "campaign it completed: $N experiments" "$T/run.log" || fail "no summary line"
pass "campaign with a Python worker and an exec worker completed"

[ "$(q "select status from campaigns")" = completed ] || fail "campaign status $(q 'select status from campaigns')"
[ "$(q "select count(*) from experiments where status='measured'")" = "$N" ] || fail "not all $N experiments measured: $(q 'select seq, status from experiments')"
[ "$(q "select count(*) from experiments where json_extract(objectives, '$.absorbance') is null")" = 0 ] || fail "experiments without the absorbance objective"
[ "$(q "select count(*) from experiments e where (select count(*) from steps s where s.experiment=e.seq and s.status='done') != 4")" = 0 ] || fail "an experiment without exactly 4 done steps"
[ "$(q "select count(*) from steps where step='measure_uvvis' and status='done' and device='uvvis-1'")" = "$N" ] || fail "measure_uvvis not done by uvvis-1 $N times"
[ "$(q "select count(*) from steps where step='measure_uvvis' and status='done' and json_extract(result,'$.absorbance_max') is not null and json_extract(result,'$.peak_nm') is not null")" = "$N" ] || fail "Python results missing in the hub: $(q "select result from steps where step='measure_uvvis' limit 2")"
[ "$(q "select count(*) from steps where step='archive' and status='done' and device='archive-1' and json_extract(result,'$.archived') = 'yes' and json_extract(result,'$.shelf') is not null")" = "$N" ] || fail "exec results missing in the hub: $(q "select status, error, result from steps where step='archive' limit 2")"
[ "$(q "select count(*) from devices where name in ('uvvis-1','archive-1') and status='ready'")" = 2 ] || fail "Python/exec devices not recorded ready"
pass "hub holds every result of the Python and exec workers"

# the exec worker kept each attempt's artifacts (keep_artifacts: true)
[ "$(ls "$T"/artifacts/*/label.txt | wc -l)" = "$N" ] || fail "exec artifacts missing: $(ls -R "$T/artifacts" | head)"
grep -q '"shelf"' "$T"/artifacts/*/params.json || fail "exec command did not get the params on stdin"
pass "exec artifacts written per attempt"

# The Python client refuses plain mode off loopback and readable secret keys.
cd "$ROOT/devices/python"
"$PY" -c 'from labloop_worker import Worker; Worker("x", "tcp://10.1.2.3:5560")' 2>"$T/py-plain.err" \
  && fail "the Python client accepted plain mode on 10.1.2.3"
grep -q "reachable from other machines" "$T/py-plain.err" || fail "unclear: $(tail -1 "$T/py-plain.err")"
cp "$T/keys/uvvis-1.key" "$T/open.key"; chmod 640 "$T/open.key"
"$PY" -c 'import sys; from labloop_worker import Worker; Worker("x", "tcp://127.0.0.1:1", key=sys.argv[1], orchestrator_key=sys.argv[2])' \
  "$T/open.key" "$T/keys/lab.pub" 2>"$T/py-open.err" && fail "the Python client used a group-readable secret key"
grep -q "chmod 600 $T/open.key" "$T/py-open.err" || fail "unclear: $(tail -1 "$T/py-open.err")"
pass "the Python client refuses plain mode off loopback and a readable secret key"
