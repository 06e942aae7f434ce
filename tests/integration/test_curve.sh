# CURVE on both endpoints, with real processes on loopback: key files and
# their modes, plain mode refused off loopback, unknown device keys, a valid
# key under another device's name, control keys and their roles (audit
# names the key), and a worker pinned to its lab that a rogue orchestrator
# cannot use.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
RPORT=$(free_port)
K="$T/keys"
DB="$T/campaign.db"

# ---- keygen: modes, no overwrite, refusal of readable secret keys ----
"$LABLOOP" keygen alice --dir "$K" >"$T/keygen.out" || fail "keygen failed"
[ "$(stat -c %a "$K/alice.key")" = 600 ] || fail "secret key mode is $(stat -c %a "$K/alice.key")"
[ "$(stat -c %a "$K/alice.pub")" = 644 ] || fail "public key mode is $(stat -c %a "$K/alice.pub")"
grep -q 'secret-key = "' "$K/alice.key" || fail "no secret key in alice.key"
grep -q 'secret-key' "$K/alice.pub" && fail "the public key file holds the secret key"
before=$(sha256sum "$K/alice.key")
"$LABLOOP" keygen alice --dir "$K" 2>"$T/keygen2.err" && fail "keygen overwrote an existing key"
grep -q "exists" "$T/keygen2.err" || fail "unclear refusal: $(cat "$T/keygen2.err")"
[ "$(sha256sum "$K/alice.key")" = "$before" ] || fail "a refused keygen changed the key"
umask 022
"$LABLOOP" keygen bob --dir "$K" >/dev/null
"$LABLOOP" keygen mallory --dir "$K" >/dev/null
"$LABLOOP" keygen probe --dir "$K" >/dev/null
"$LABLOOP" keygen rogue-lab --dir "$K" >/dev/null
"$LABLOOP" keygen spy --dir "$K" --force >/dev/null || fail "keygen --force on new files failed"
cp "$K/spy.key" "$K/spy-open.key"; chmod 644 "$K/spy-open.key"
pass "keygen: secret 0600, public 0644, never overwritten without --force"

# ---- plain mode only on loopback ----
write_campaign "$T" "$PORT" 6 2
sed 's/tcp:\/\/127.0.0.1:'"$PORT"'/tcp:\/\/10.1.2.3:'"$PORT"'/' "$T/campaign.yaml" >"$T/plain-remote.yaml"
"$LABLOOP" validate "$T/plain-remote.yaml" >/dev/null 2>"$T/plain.err" && fail "validate accepted plain mode on 10.1.2.3"
grep -Eq "plain-remote.yaml:[0-9]+:[0-9]+: endpoints.devices 'tcp://10.1.2.3:$PORT' is reachable from other machines" "$T/plain.err" \
  || fail "unclear plain-mode error: $(cat "$T/plain.err")"
"$LABLOOP" run "$T/plain-remote.yaml" --db "$T/never.db" >/dev/null 2>&1 && fail "run accepted plain mode on 10.1.2.3"
[ -e "$T/never.db" ] && fail "a refused run made a hub"
cat >"$T/plain-worker.yaml" <<YAML
name: probe
endpoint: tcp://10.1.2.3:$PORT
driver: null
capabilities: [spare_cap]
YAML
"$LABLOOP" worker --config "$T/plain-worker.yaml" 2>"$T/plainw.err" && fail "a worker accepted plain mode on 10.1.2.3"
grep -q "reachable from other machines" "$T/plainw.err" || fail "unclear worker plain-mode error: $(cat "$T/plainw.err")"
pass "plain mode on a non-loopback tcp endpoint is a config error (validate, run, worker)"

# ---- the lab: a simulated lab making its own keys, a campaign with security ----
write_lab "$T" "$PORT" 600
sed -i "s|seed: 3}|seed: 3, keys: \"$K\"}|" "$T/lab.yaml"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
wait_until 10 test -f "$K/pl-1.pub" -a -f "$K/lab.key" || fail "sim did not make its keys"
HEARTBEAT=500ms write_campaign "$T" "$PORT" 1000 2     # more than it can do before the abort
python3 - "$T/campaign.yaml" "$K" <<'PY'
import sys
p, k = sys.argv[1], sys.argv[2]
s = open(p).read()
for d in ("ot2", "hotplate", "pl-1"):
    s = s.replace("{name: %s, " % d, "{name: %s, key: %s/%s.pub, " % (d, k, d))
s = s.replace("devices:\n", "devices:\n  - {name: spare, capabilities: [spare_cap], key: %s/probe.pub}\n" % k, 1)
s += """security:
  key: %s/lab.key
  clients:
    - {name: alice, key: %s/alice.pub, role: operator}
    - {name: bob, key: %s/bob.pub, role: viewer}
""" % (k, k, k)
open(p, "w").write(s)
PY
chmod 640 "$K/lab.key"
"$LABLOOP" validate "$T/campaign.yaml" >/dev/null 2>"$T/labkey.err" && fail "validate accepted a group-readable lab key"
grep -q "security.key: .*chmod 600 $K/lab.key" "$T/labkey.err" || fail "unclear: $(cat "$T/labkey.err")"
"$LABLOOP" run "$T/campaign.yaml" --db "$T/never.db" >/dev/null 2>&1 && fail "run used a group-readable lab key"
[ -e "$T/never.db" ] && fail "a run refused for its key made a hub"
chmod 600 "$K/lab.key"
"$LABLOOP" validate "$T/campaign.yaml" >/dev/null || fail "the secure campaign does not validate"
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 30 q_atleast "select count(*) from steps where status='done'" 2 || fail "the secure campaign did not get going"
"$LABLOOP" pause "$T/campaign.yaml" --key "$K/alice.key" >/dev/null || fail "operator pause failed"
pass "a campaign runs with CURVE: the simulated lab's workers use the keys it made"

C="$T/campaign.yaml"
status_json() { "$LABLOOP" status "$C" --key "$K/alice.key" --json; }
refused() { status_json | python3 -c "import json,sys; print(json.load(sys.stdin)['security']['refused_$1'])"; }
refused_atleast() { [ "$(refused "$1")" -ge "$2" ]; }
status_json | python3 -c 'import json,sys; s=json.load(sys.stdin)["security"]; assert s["mode"]=="curve", s' || fail "status does not say curve"

# ---- an unknown device key is refused at the handshake ----
c0=$(refused connections)
cat >"$T/mallory.yaml" <<YAML
name: ot2
endpoint: tcp://127.0.0.1:$PORT
driver: null
capabilities: [liquid_handler]
keys: {key: $K/mallory.key, orchestrator: $K/lab.pub}
YAML
"$LABLOOP" worker --config "$T/mallory.yaml" >"$T/mallory.log" 2>&1 & MW=$!; PIDS+=($MW)
wait_until 10 refused_atleast connections $((c0 + 1)) || fail "an unknown device key was not counted as refused"
grep -q "is not in .*devices\[\].key" "$T/run.log" || fail "the refusal of an unknown key was not logged"
kill "$MW"; wait "$MW" 2>/dev/null || true
grep -q "registered with" "$T/mallory.log" && fail "the unknown key registered as ot2"
pass "a worker with an unknown key is refused, logged and counted ($(refused connections) refused connections)"

# ---- a valid key of one device under another device's name ----
m0=$(refused messages)
cat >"$T/impostor.yaml" <<YAML
name: spare
endpoint: tcp://127.0.0.1:$PORT
driver: null
capabilities: [spare_cap]
keys: {key: $K/pl-1.key, orchestrator: $K/lab.pub}
YAML
timeout 20 "$LABLOOP" worker --config "$T/impostor.yaml" >"$T/impostor.log" 2>&1 && fail "the impostor was not stopped"
grep -q "belongs to 'pl-1', not to 'spare'" "$T/impostor.log" || fail "the impostor was not told why: $(tail -3 "$T/impostor.log")"
refused_atleast messages $((m0 + 1)) || fail "the impostor's messages were not counted"
[ "$(q "select count(*) from events where kind='device.ready' and subject='spare'")" = 0 ] || fail "the impostor registered as spare"
pl1_ready() { status_json | python3 -c 'import json,sys; d={x["name"]:x["state"] for x in json.load(sys.stdin)["devices"]}; assert d["pl-1"]=="ready", d'; }
wait_until 10 pl1_ready || fail "pl-1 (whose key was used) is no longer ready"
grep -q "refused" "$T/sim.log" && fail "a simulated device was refused"
grep -q "authenticated as 'pl-1'; refused" "$T/run.log" || fail "the impostor was not logged"
pass "a valid key of pl-1 cannot register as spare (refused, logged, counted); pl-1 stays ready"

# ---- control: no key, unknown key, viewer, operator ----
cc0=$(refused connections)
"$LABLOOP" estop --endpoint "tcp://127.0.0.1:$((PORT + 1))" 2>"$T/nokey.err" && fail "an e-stop without a key succeeded"
grep -q "no orchestrator answered" "$T/nokey.err" || fail "unclear no-key failure: $(cat "$T/nokey.err")"
"$LABLOOP" abort "$C" --key "$K/mallory.key" 2>"$T/mallory.err" && fail "an abort with an unknown key succeeded"
wait_until 10 refused_atleast connections $((cc0 + 2)) || fail "keyless and unknown control clients were not counted"
"$LABLOOP" status "$C" --key "$K/bob.key" | grep -q "campaign it: paused" || fail "viewer status failed"
"$LABLOOP" estop "$C" --key "$K/bob.key" 2>"$T/bob.err" && fail "a viewer e-stopped the lab"
grep -q "viewer role" "$T/bob.err" || fail "unclear viewer refusal: $(cat "$T/bob.err")"
"$LABLOOP" abort "$C" --key "$K/bob.key" --reason "bob tries" 2>/dev/null && fail "a viewer aborted the campaign"
"$LABLOOP" extend "$C" --key "$K/bob.key" --experiments 5 2>"$T/bobext.err" && fail "a viewer extended the campaign"
grep -q "viewer role" "$T/bobext.err" || fail "unclear viewer refusal of extend: $(cat "$T/bobext.err")"
refused_atleast commands 2 || fail "the viewer's commands were not counted"
grep -q "refused command: estop: key 'bob' has the viewer role" "$T/run.log" || fail "the viewer's refusal was not logged"
[ "$(q "select status from campaigns")" = paused ] || fail "a refused command changed the campaign"
"$LABLOOP" status "$C" --key "$K/spy-open.key" 2>"$T/open.err" && fail "a world-readable secret key was used"
grep -q "chmod 600 $K/spy-open.key" "$T/open.err" || fail "unclear readable-key refusal: $(cat "$T/open.err")"
"$LABLOOP" resume "$C" --key "$K/alice.key" | grep -q "now running" || fail "operator resume failed"
"$LABLOOP" extend "$C" --key "$K/alice.key" --experiments 5 | grep -q "extend: done" || fail "operator extend failed"
# The dashboard is a control client too: with the operator's key its pause goes through.
HP=$(free_port)
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" --token dash-token-1 --control "tcp://127.0.0.1:$((PORT + 1))" \
  --key "$K/alice.key" --server-key "$K/lab.pub" >"$T/serve.log" 2>&1 & SV=$!; PIDS+=($SV)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
curl -sf -X POST -H 'Authorization: Bearer dash-token-1' "http://127.0.0.1:$HP/api/control/pause" | grep -q '"status":"paused"' \
  || fail "dashboard pause with the operator key failed"
kill "$SV"; wait "$SV" 2>/dev/null || true
"$LABLOOP" resume "$C" --key "$K/alice.key" | grep -q "now running" || fail "operator resume failed"
pass "control: no key, an unknown key and a viewer key cannot abort, e-stop or extend (refused, logged, counted); the operator can"

"$LABLOOP" abort "$C" --key "$K/alice.key" --reason "test over" | grep -q aborted || fail "operator abort failed"
wait "$RUN" || fail "labloop run exited $? after abort"
actors=$(q "select group_concat(actor || ':' || action || ':' || substr(outcome,1,2), ' ') from (select * from audit order by id)")
echo "audit: $actors"
for a in "alice:pause:ok" "bob:estop:es" "bob:abort:ab" "bob:extend:ex" "alice:resume:ok" "alice:extend:ok" "alice:pause:ok" "alice:abort:ok"; do
  echo " $actors " | grep -q " $a" || fail "audit lacks $a"
done
[ "$(q "select count(*) from audit where actor not in ('alice','bob')")" = 0 ] || fail "audit names someone other than the keys"
[ "$(q "select count(*) from events where kind='security.refused'")" -ge 3 ] || fail "refusals not recorded as events"
pass "audit records the key's name for every action"

# ---- a worker pinned to its lab's key gets nothing from a rogue orchestrator ----
cat >"$T/rogue.yaml" <<YAML
campaign: {name: rogue, seed: 1, budget: {experiments: 1}}
space:
  - {name: x, type: real, low: 0, high: 1}
objectives:
  - {name: a, goal: maximize, from: s.v}
workflow:
  - {step: s, capability: spare_cap}
devices:
  - {name: probe, capabilities: [spare_cap], key: $K/probe.pub}
endpoints: {devices: "tcp://127.0.0.1:$RPORT", control: "tcp://127.0.0.1:$((RPORT + 1))"}
heartbeat: {interval: 200ms, liveness: 3}
hub: rogue.db
security:
  key: $K/rogue-lab.key
  clients: [{name: alice, key: $K/alice.pub, role: operator}]
YAML
"$LABLOOP" run "$T/rogue.yaml" >"$T/rogue.log" 2>&1 & ROGUE=$!; PIDS+=($ROGUE)
rstatus() { "$LABLOOP" status "$T/rogue.yaml" --key "$K/alice.key" --json; }
wait_until 10 rstatus || fail "the rogue orchestrator did not start"
cat >"$T/probe.yaml" <<YAML
name: probe
endpoint: tcp://127.0.0.1:$RPORT
driver: null
capabilities: [spare_cap]
keys: {key: $K/probe.key, orchestrator: $K/lab.pub}
YAML
"$LABLOOP" worker --config "$T/probe.yaml" >"$T/probe.log" 2>&1 & PW=$!; PIDS+=($PW)
wait_until 10 eval 'rstatus | python3 -c "import json,sys; assert json.load(sys.stdin)[\"security\"][\"refused_connections\"] >= 1"' \
  || fail "the rogue saw no failed handshake"
sleep 1
rstatus | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["devices"][0]["state"]=="offline" and d["proposed"]<=1 and d["measured"]==0, d' \
  || fail "the pinned worker registered with the rogue orchestrator"
[ "$(sqlite3 "$T/rogue.db" "select count(*) from events where kind='device.ready'")" = 0 ] || fail "the rogue's hub has the probe ready"
kill "$PW"; wait "$PW" 2>/dev/null || true
# The same worker pinned to the rogue's key does register: the test can fail.
sed -i "s|orchestrator: $K/lab.pub|orchestrator: $K/rogue-lab.pub|" "$T/probe.yaml"
"$LABLOOP" worker --config "$T/probe.yaml" >>"$T/probe.log" 2>&1 & PW=$!; PIDS+=($PW)
wait_until 10 eval "sqlite3 '$T/rogue.db' \"select count(*) from events where kind='device.ready'\" | grep -qx 1" \
  || fail "the control case: a worker pinned to the rogue's key did not register with it"
pass "a worker pinned to the lab's key refuses a rogue orchestrator (which counts the failed handshake)"
