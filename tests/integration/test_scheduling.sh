# Scheduling across a lab: capacity is never exceeded, a step that fails on
# one device is retried on another, a 'within' step starts right after its
# predecessor (its slot is reserved), and step timeouts end in retries and
# then a failed experiment. Checked from the hub's timestamps.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DB="$T/campaign.db"
cat >"$T/lab.yaml" <<YAML
lab: {name: sched-lab, endpoint: "tcp://127.0.0.1:$PORT", speed: 60, samples: "$T/samples", seed: 5}
model: {kind: nanocrystal_pl, noise: 0.01}
devices:
  - {name: ot2-a, driver: sim.dispenser, capabilities: [liquid_handler], duration: 20s, failure_rate: 1.0, failure: "clogged tip"}
  - {name: ot2-b, driver: sim.dispenser, capabilities: [liquid_handler], duration: 20s}
  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 2, duration: "\${time}"}
  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl_spectrometer], duration: 30s}
YAML
cat >"$T/campaign.yaml" <<YAML
campaign: {name: sched, seed: 9, budget: {experiments: 10}}
space:
  - {name: cs_pb_ratio, type: real, low: 0.6, high: 1.0}
  - {name: temperature, type: real, low: 160, high: 180}
  - {name: time, type: real, low: 5, high: 60, scale: log}
  - {name: ligand, type: categorical, values: [oleylamine, octylamine, dodecylamine]}
  - {name: washes, type: integer, low: 0, high: 2}
objectives:
  - {name: plqy, goal: maximize, from: measure_pl.quantum_yield}
planner: {kind: sobol, batch: 4}
workflow:
  - {step: dispense, capability: liquid_handler, params: {cs_pb_ratio: "\${cs_pb_ratio}", ligand: "\${ligand}", washes: "\${washes}"}, retries: 2, backoff: 100ms}
  - {step: heat, capability: hotplate, after: [dispense], params: {temperature: "\${temperature}", time: "\${time}"}}
  - {step: measure_pl, capability: pl_spectrometer, after: [heat], within: 3s}
devices:
  - {name: ot2-a, capabilities: [liquid_handler]}
  - {name: ot2-b, capabilities: [liquid_handler]}
  - {name: hotplate, capabilities: [hotplate], capacity: 2}
  - {name: pl-1, capabilities: [pl_spectrometer]}
endpoints: {devices: "tcp://127.0.0.1:$PORT", control: "tcp://127.0.0.1:$((PORT + 1))"}
heartbeat: {interval: 200ms, liveness: 3}
hub: campaign.db
YAML
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete"
[ "$(q "select count(*) from experiments where status='measured'")" = 10 ] || fail "not every experiment measured: $(q "select seq, status, error from experiments where status != 'measured'")"
pass "campaign completed: 10 experiments measured"

fails=$(q "select count(*) from steps where device='ot2-a' and status='failed'")
[ "$fails" -ge 1 ] || fail "ot2-a never failed (it always should)"
[ "$(q "select count(*) from steps a where a.device='ot2-a' and a.status='failed' and not exists
          (select 1 from steps b where b.experiment=a.experiment and b.step='dispense' and b.attempt=a.attempt+1 and b.device='ot2-b')")" = 0 ] \
  || fail "a step that failed on ot2-a was not retried on ot2-b"
pass "$fails dispenses failed on ot2-a; each retry went to ot2-b"

over=$(q "select count(*) from steps s join devices d on d.name=s.device where s.status='done' and
          (select count(*) from steps o where o.device=s.device and o.status='done' and o.id != s.id
             and o.started_us <= s.started_us and o.finished_us > s.started_us) + 1 > d.capacity")
[ "$over" = 0 ] || fail "$over steps started while their device was full"
[ "$(q "select max(n) from (select (select count(*) from steps o where o.device='hotplate' and o.status='done' and o.started_us <= s.started_us and o.finished_us > s.started_us) n from steps s where s.device='hotplate' and s.status='done')")" -ge 1 ] || fail "capacity query found nothing"
pass "no device ever ran more steps than its capacity"

late=$(q "select count(*) from steps m join steps h on h.experiment=m.experiment and h.step='heat' and h.status='done'
          where m.step='measure_pl' and m.status='done' and m.queued_us - h.finished_us > 3000000")
[ "$late" = 0 ] || fail "$late measurements started more than 3 s after their heat step"
pass "every 'within: 3s' measurement started within 3 s of its heat step"

# Timeouts: a heat step may take at most 1 s (real time); longer ones time out.
PORT2=$(free_port)
sed -e "s/$PORT/$PORT2/g" -e "s/$((PORT + 1))/$((PORT2 + 1))/" -e 's/name: sched,/name: sched2,/' \
    -e 's/after: \[dispense\], params: {temperature: "${temperature}", time: "${time}"}}/after: [dispense], params: {temperature: "${temperature}", time: "${time}"}, timeout: 1s, retries: 1, backoff: 100ms}/' \
    -e 's/high: 60, scale: log/high: 600, scale: log/' -e 's/experiments: 10/experiments: 6/' \
    "$T/campaign.yaml" >"$T/timeout.yaml"
grep -q "timeout: 1s" "$T/timeout.yaml" || fail "test setup: timeout not set"
sed -e "s/$PORT/$PORT2/" "$T/lab.yaml" >"$T/lab2.yaml"
"$LABLOOP" sim "$T/lab2.yaml" >"$T/sim2.log" 2>&1 & PIDS+=($!)
DB="$T/sched2.db"
"$LABLOOP" run "$T/timeout.yaml" --db "$DB" >"$T/run2.log" 2>&1 || fail "labloop run (timeouts) exited $?"
to=$(q "select count(*) from steps where step='heat' and status='timed_out'")
[ "$to" -ge 1 ] || fail "no heat step timed out"
[ "$(q "select count(*) from steps a where a.step='heat' and a.status='timed_out' and a.attempt=1 and not exists
          (select 1 from steps b where b.experiment=a.experiment and b.step='heat' and b.attempt=2)")" = 0 ] || fail "a timed-out step was not retried"
[ "$(q "select count(*) from experiments where status='failed' and error like '%timed out%'")" -ge 1 ] \
  || [ "$(q "select count(*) from steps where step='heat' and status='timed_out' and attempt=2")" = 0 ] \
  || fail "an experiment whose step timed out twice did not fail with 'timed out'"
[ "$(q "select count(*) from experiments where status not in ('measured','failed')")" = 0 ] || fail "experiments left over"
pass "$to heat attempts timed out; each was retried once, then its experiment failed"
