# Shared helpers for integration tests: a temp dir, free ports, process
# cleanup, deadline waits and hub queries. Source it first.
set -euo pipefail
: "${LABLOOP:?set LABLOOP to the labloop binary}"
TOOLS=${TOOLS:-$(dirname "$LABLOOP")/tools}
T=$(mktemp -d /tmp/labloop-it.XXXXXX)
IT_DIR=$T                  # T may point below it for a part of a test
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $IT_DIR"; else rm -rf "$IT_DIR"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }; done >&2; exit 1; }
pass() { echo "ok: $*"; }

# free_port: a port P such that P and P + 1 (the campaign's device and
# control endpoints) are both free on loopback. Taken below the kernel's
# ephemeral range, so the outgoing connections of workers that are already
# running (each reconnect takes a new ephemeral port) cannot take it first.
free_port() {
  python3 -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    p = random.randrange(10000, max(lo - 2, 10002))
    socks = []
    try:
        for q in (p, p + 1):
            s = socket.socket(); socks.append(s); s.bind(("127.0.0.1", q))
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(p); break'
}

# wait_until SECONDS CMD...: run CMD until it succeeds or the deadline passes.
wait_until() {
  local secs=$1; shift
  local end=$(( $(date +%s%N) + secs * 1000000000 ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# run_bg: start `labloop run` on $T/campaign.yaml in the background (log
# appended to $T/run.log, pid in RUN), for tests that stop and restart it.
run_bg() { "$LABLOOP" run "$T/campaign.yaml" >>"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN); }

# Query the hub read-only (fails while the hub does not exist yet).
q() { sqlite3 -batch -readonly -cmd ".timeout 5000" "$DB" "$1"; }
# q_is SQL VALUE / q_atleast SQL N: for wait_until, which re-runs them.
q_is() { [ "$(q "$1")" = "$2" ]; }
q_atleast() { local v; v=$(q "$1") && [ -n "$v" ] && [ "$v" -ge "$2" ]; }

# write_uvvis_campaign NAME STEP_OPTIONS [EXEC_OPTION]: one exec worker
# (uvvis-1, running $T/measure.sh, which the test writes) in $T/uvvis.yaml
# and a one-experiment campaign NAME of one step 'measure' in
# $T/campaign.yaml, on PORT and PORT + 1; the hub is $T/campaign.db.
# STEP_OPTIONS are the step's extra keys ("retries: 0"), EXEC_OPTION one
# more exec key ("kill_grace: 20s").
write_uvvis_campaign() {
  local name=$1 step_opts=$2 exec_opt=${3:-}
  cat >"$T/uvvis.yaml" <<YAML
name: uvvis-1
endpoint: tcp://127.0.0.1:$PORT
driver: exec
capabilities: [uvvis]
exec:
  artifacts: $T/artifacts
  $exec_opt
  commands:
    uvvis: [$T/measure.sh]
YAML
  cat >"$T/campaign.yaml" <<YAML
campaign: {name: $name, seed: 5, budget: {experiments: 1}}
space:
  - {name: x, type: real, low: 0, high: 1}
objectives:
  - {name: a, goal: maximize, from: measure.absorbance}
planner: {kind: random, batch: 1}
workflow:
  - {step: measure, capability: uvvis, $step_opts}
devices:
  - {name: uvvis-1, capabilities: [uvvis]}
endpoints: {devices: "tcp://127.0.0.1:$PORT", control: "tcp://127.0.0.1:$((PORT + 1))"}
heartbeat: {interval: 200ms, liveness: 3}
hub: campaign.db
YAML
}
# attempts: every attempt in the hub as "attempt:status:counted", in order.
attempts() { q "select group_concat(attempt || ':' || status || ':' || counted, ' ') from (select * from steps order by attempt)"; }

# write_lab DIR PORT SPEED [extra device yaml lines are fixed: ot2, hotplate, pl-1]
write_lab() {
  local dir=$1 port=$2 speed=$3
  cat >"$dir/lab.yaml" <<YAML
lab: {name: it-lab, endpoint: "tcp://127.0.0.1:$port", speed: $speed, samples: "$dir/samples", seed: 3}
model: {kind: nanocrystal_pl, noise: 0.02}
devices:
  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler], duration: ${DISPENSE:-60s}}
  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 4, duration: "\${time}"}
  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl_spectrometer], duration: 60s, failure_rate: ${PL_FAILURE_RATE:-0}}
YAML
}

# write_campaign DIR PORT EXPERIMENTS BATCH
write_campaign() {
  local dir=$1 port=$2 n=$3 batch=$4
  cat >"$dir/campaign.yaml" <<YAML
campaign: {name: it, seed: ${SEED:-11}, budget: {experiments: $n}}
space:
  - {name: cs_pb_ratio, type: real, low: 0.2, high: 1.5}
  - {name: temperature, type: real, low: 120, high: 220, unit: degC}
  - {name: time, type: real, low: 5, high: 600, unit: s, scale: log}
  - {name: ligand, type: categorical, values: [oleylamine, octylamine, dodecylamine]}
  - {name: washes, type: integer, low: 0, high: 3}
objectives:
  - {name: plqy, goal: maximize, from: measure_pl.quantum_yield}
planner: {kind: ${PLANNER:-sobol}, batch: $batch}
workflow:
  - {step: dispense, capability: liquid_handler, params: {cs_pb_ratio: "\${cs_pb_ratio}", ligand: "\${ligand}", washes: "\${washes}"}, retries: ${RETRIES:-2}}
  - {step: heat, capability: hotplate, after: [dispense], params: {temperature: "\${temperature}", time: "\${time}"}}
  - {step: measure_pl, capability: pl_spectrometer, after: [heat], retries: 1}
devices:
  - {name: ot2, capabilities: [liquid_handler]}
  - {name: hotplate, capabilities: [hotplate], capacity: 4}
  - {name: pl-1, capabilities: [pl_spectrometer]}
endpoints: {devices: "tcp://127.0.0.1:$port", control: "tcp://127.0.0.1:$((port + 1))"}
heartbeat: {interval: ${HEARTBEAT:-200ms}, liveness: 3}
hub: campaign.db
YAML
}

# Check the hub of a finished campaign: every experiment measured or failed
# with its parameters, every step with attempt id, device and timestamps.
check_hub_complete() {
  local n=$1
  [ "$(q "select status from campaigns")" = completed ] || fail "campaign status is $(q 'select status from campaigns')"
  [ "$(q "select count(*) from experiments")" = "$n" ] || fail "expected $n experiments, hub has $(q 'select count(*) from experiments')"
  [ "$(q "select count(*) from experiments where status not in ('measured','failed')")" = 0 ] || fail "experiments neither measured nor failed: $(q "select seq, status from experiments where status not in ('measured','failed')")"
  [ "$(q "select count(*) from experiments where json_type(params) = 'object' and (select count(*) from json_each(params)) = 5")" = "$n" ] || fail "experiments without their 5 parameters"
  [ "$(q "select count(*) from experiments where status='measured' and json_extract(objectives, '$.plqy') is null")" = 0 ] || fail "measured experiments without objective values"
  [ "$(q "select count(*) from steps where attempt_id not like 'it/%/%/%' or device is null or queued_us is null")" = 0 ] || fail "steps without attempt id or device"
  [ "$(q "select count(*) from steps where status='done' and (started_us is null or finished_us is null or finished_us < started_us)")" = 0 ] || fail "done steps without timestamps"
  [ "$(q "select count(*) from experiments e where status='measured' and (select count(*) from steps s where s.experiment=e.seq and s.status='done') != 3")" = 0 ] || fail "a measured experiment without exactly 3 done steps"
  [ "$(q "select count(*) from (select experiment, step from steps where status='done' group by experiment, step having count(*) > 1)")" = 0 ] || fail "a step finished twice"
  [ "$(q "select count(*) from events where kind='experiment.proposed'")" = "$n" ] || fail "proposed events missing"
  [ "$(q "select count(*) from events where kind in ('experiment.measured','experiment.failed')")" = "$n" ] || fail "outcome events missing"
}

# ---- GPIO e-stop (test_gpio_estop.sh, scripts/bench.sh) ----
# write_safety DIR PORT DEBOUNCE_MS: DIR/safety.yaml, a gpio worker 'safety'
# on the simulated line backend (FIFO DIR/gpio.fifo, output log
# DIR/gpio-out.log) with an e-stop button (line ESTOP, falling edge), an
# output 'beacon' no step uses and a status light (line LIGHT); and adds
# 'safety' to the devices of DIR/campaign.yaml (written by write_campaign).
write_safety() {
  local dir=$1 port=$2 debounce=$3
  cat >"$dir/safety.yaml" <<YAML
name: safety
endpoint: tcp://127.0.0.1:$port
driver: gpio
reconnect: {min: 100ms, max: 1s}
gpio:
  backend: sim
  sim: {fifo: $dir/gpio.fifo, log: $dir/gpio-out.log}
  chip: gpiochip0
  inputs:
    - {name: estop-button, line: ESTOP, role: estop, edge: falling, debounce: ${debounce}ms}
  outputs:
    - {capability: beacon, line: BEACON, action: on}
  status_light: {line: LIGHT, ready: on, busy: blink, estopped: off, offline: off, blink: 200ms}
YAML
  sed -i '/^  - {name: pl-1, capabilities/a\  - {name: safety, capabilities: [beacon]}' "$dir/campaign.yaml"
  grep -q "name: safety" "$dir/campaign.yaml"
}
# press/release the e-stop button (active low) of write_safety's worker
gpio_press() { printf 'gpiochip0 ESTOP 0\n' >"$1/gpio.fifo"; }
gpio_release() { printf 'gpiochip0 ESTOP 1\n' >"$1/gpio.fifo"; }
# gpio_out_is DIR LINE VALUE: the last value the worker wrote to an output line
gpio_out_is() { [ "$(awk -v l="$2" '$3 == l { v = $4 } END { print v }' "$1/gpio-out.log" 2>/dev/null)" = "$3" ]; }
# now_us VAR: set VAR to the wall clock in µs (no fork when bash has EPOCHREALTIME)
now_us() { if [ -n "${EPOCHREALTIME:-}" ]; then printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"; else printf -v "$1" '%s' "$(date +%s%6N)"; fi; }

# estop_latency T0_US N LOG...: from wall-clock time T0_US (taken just before
# an e-stop edge) to each worker's first "device 'NAME': E-STOP: " log line
# at or after it. Log lines carry local HH:MM:SS.mmm, truncated: 1 ms
# resolution. Prints "WORST_MS LATCH_MS NAME=MS ..." (LATCH: the gpio
# worker's own "E-STOP requested") and fails unless N workers logged it
# (so wait_until can wait for it).
estop_latency() {
  python3 - "$@" <<'PY'
import datetime, re, sys
t0, want, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
day = datetime.datetime.fromtimestamp(t0 / 1e6).replace(hour=0, minute=0, second=0, microsecond=0)
pat = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) .*device '([^']+)': E-STOP(:| requested:) ")
stop, latch = {}, None
for f in files:
    for line in open(f, errors="replace"):
        m = pat.match(line)
        if not m:
            continue
        h, mi, s, ms = (int(x) for x in m.groups()[:4])
        t = int((day + datetime.timedelta(hours=h, minutes=mi, seconds=s)).timestamp()) * 1000000 + ms * 1000
        if t < t0 - 43200000000:
            t += 86400000000                     # the edge came just before midnight
        if t < t0 - 1000:                        # an earlier e-stop (1 ms: truncation)
            continue
        if m.group(6) == ":":
            stop.setdefault(m.group(5), t)
        elif latch is None:
            latch = t
if len(stop) < want:
    sys.exit(1)
ms = lambda t: "%.0f" % ((t - t0) / 1000.0)
print(ms(max(stop.values())), ms(latch) if latch is not None else "?",
      " ".join("%s=%s" % (d, ms(t)) for d, t in sorted(stop.items())))
PY
}

# ---- scripted protocol peer (tests/integration/proto_peer.py) ----
# start_peer MODE DEVICE: run it against $PORT in the background, logging
# what it did to $T/peer.txt (Debian's python3 with python3-zmq and
# python3-protobuf, and labloop_pb2.py from the build).
start_peer() {
  local py=${PYTHON:-/usr/bin/python3}
  [ -x "$py" ] || py=python3
  export LABLOOP_PYTHON_GEN=${LABLOOP_PYTHON_GEN:-$(dirname "$LABLOOP")/gen/python}
  "$py" -c 'import zmq, google.protobuf' 2>/dev/null || fail "$py lacks python3-zmq or python3-protobuf (make deps)"
  "$py" "$(dirname "${BASH_SOURCE[0]}")/proto_peer.py" "$1" "$2" "tcp://127.0.0.1:$PORT" "$T/peer.txt" >"$T/peer.log" 2>&1 &
  PEER=$!; PIDS+=($PEER)
}

# write_service DIR PORT: a lab service's config (labloop lab) for the
# devices of write_lab, hub lab.db; endpoints PORT (devices) and PORT+1.
write_service() {
  local dir=$1 port=$2 tmp
  tmp=$(mktemp -d "$T/s.XXXXXX")
  write_campaign "$tmp" "$port" 1 1
  { echo "lab: {name: svc}"; sed -n '/^devices:/,$p' "$tmp/campaign.yaml" | sed 's/^hub: .*/hub: lab.db/'; } >"$dir/service.yaml"
  rm -rf "$tmp"
}

# write_named_campaign DIR NAME SEED N BATCH: campaign NAME in DIR/NAME.yaml
# (write_campaign's workflow; its lab sections are there and ignored by a lab).
write_named_campaign() {
  local dir=$1 name=$2 seed=$3 n=$4 batch=$5 tmp
  tmp=$(mktemp -d "$T/c.XXXXXX")
  SEED=$seed write_campaign "$tmp" 1 "$n" "$batch"
  sed "s/name: it,/name: $name,/" "$tmp/campaign.yaml" >"$dir/$name.yaml"
  rm -rf "$tmp"
}
