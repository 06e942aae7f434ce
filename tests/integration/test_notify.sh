# Webhooks (notify: in the campaign config) against a real HTTP receiver on
# loopback (hook_receiver.py): pause, device lost, e-stop and end each POST
# their JSON body; a clear-estop's pause does not; a receiver that answers
# 500 twice gets the end notification on the third attempt; one that times
# out is retried, given up and logged; one that never answers at all holds
# a request open while the campaign runs to its end. Bad notify sections
# are config errors with file:line:column.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_lab "$T" "$PORT" 600              # steps of 0.1 to 1 s
write_campaign "$T" "$PORT" 16 2
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
HOOKS="$T/hooks.jsonl"

# ---- validation ----
cp "$T/campaign.yaml" "$T/bad.yaml"
cat >>"$T/bad.yaml" <<'YAML'
notify:
  - {url: "ftp://127.0.0.1/hook", events: [pause]}
  - {url: "http://127.0.0.1:9/hook", events: [pause, brak, pause], timeout: 0s}
  - {events: [end], retries: -1, colour: red}
YAML
if "$LABLOOP" validate "$T/bad.yaml" >"$T/bad.log" 2>&1; then fail "validate accepted bad webhooks"; fi
cat "$T/bad.log"
line=$(grep -n "ftp://" "$T/bad.yaml" | cut -d: -f1)
grep -Eq "bad.yaml:$line:[0-9]+: notify\[0\]: url 'ftp://127.0.0.1/hook' must start with http:// or https://" "$T/bad.log" || fail "no file:line:col for a bad URL"
grep -Eq "bad.yaml:$((line + 1)):[0-9]+: notify\[1\]: unknown event 'brak'.*did you mean 'brake'" "$T/bad.log" || fail "no file:line:col for an unknown event"
grep -Eq "bad.yaml:$((line + 1)):[0-9]+: notify\[1\]: event 'pause' is listed twice" "$T/bad.log" || fail "no error for an event listed twice"
grep -Eq "bad.yaml:$((line + 1)):[0-9]+: notify\[1\]\.timeout must be between 0.1 and 300" "$T/bad.log" || fail "no bounds error for timeout"
grep -Eq "bad.yaml:$((line + 2)):[0-9]+: notify\[2\]: missing required key 'url'" "$T/bad.log" || fail "no error for a missing url"
grep -Eq "bad.yaml:$((line + 2)):[0-9]+: notify\[2\]\.retries must be between 0 and 100" "$T/bad.log" || fail "no bounds error for retries"
grep -Eq "bad.yaml:$((line + 2)):[0-9]+: unknown key 'colour' in notify\[2\]" "$T/bad.log" || fail "no error for an unknown key"
pass "bad webhooks are config errors with file:line:column"

# ---- the receiver and the campaign ----
python3 "$(dirname "$0")/hook_receiver.py" "$T/hook.port" "$HOOKS" >"$T/receiver.log" 2>&1 & RECV=$!; PIDS+=($RECV)
wait_until 10 test -s "$T/hook.port" || fail "the receiver did not start"
HP=$(cat "$T/hook.port")
printf 's3cret-for-tests\n' >"$T/hook.secret"; chmod 600 "$T/hook.secret"
cat >>"$T/campaign.yaml" <<YAML
notify:
  - {url: "http://127.0.0.1:$HP/ok", secret: hook.secret}
  - {url: "http://127.0.0.1:$HP/flaky", events: end, backoff: 200ms, retries: 3}
  - {url: "http://127.0.0.1:$HP/hang", events: [pause, estop], timeout: 1s, retries: 1, backoff: 100ms}
  - {url: "http://127.0.0.1:$HP/hang-forever", events: [pause], timeout: 300s, retries: 0}
YAML
"$LABLOOP" validate "$T/campaign.yaml" >"$T/validate.log" 2>&1 || fail "the campaign with webhooks does not validate: $(cat "$T/validate.log")"
grep -q "^notify     http://127.0.0.1:$HP/ok on brake pause estop device.lost end; timeout 5 s, 5 retries, signed" "$T/validate.log" || fail "validate does not list the webhooks: $(cat "$T/validate.log")"
chmod 644 "$T/hook.secret"
if "$LABLOOP" validate "$T/campaign.yaml" >"$T/secret.log" 2>&1; then fail "validate accepted a secret others may read"; fi
grep -q "notify\[0\]: secret .*chmod 600" "$T/secret.log" || fail "unclear error for a readable secret: $(cat "$T/secret.log")"
if "$LABLOOP" run "$T/campaign.yaml" >"$T/secret-run.log" 2>&1; then fail "run accepted a secret others may read"; fi
[ ! -e "$DB" ] || fail "run created a hub with an unusable secret"
chmod 600 "$T/hook.secret"

# hooks PATH EVENT: the records of PATH's requests for EVENT, one JSON a line
hooks() { python3 - "$HOOKS" "$1" "$2" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"] == sys.argv[2] and r["event"] == sys.argv[3]:
        print(json.dumps(r))
PY
}
nhooks() { [ -f "$HOOKS" ] && hooks "$1" "$2" | wc -l || echo 0; }
nhooks_atleast() { [ "$(nhooks "$1" "$2")" -ge "$3" ]; }
# check_body PATH EVENT PYTHON-EXPR: the last such body satisfies EXPR (b: the body, r: the record)
check_body() { hooks "$1" "$2" | tail -1 | python3 -c '
import datetime, hashlib, hmac, json, sys
r = json.loads(sys.stdin.read()); b = r["body"]
assert b["lab"] and b["campaign"] == "it" and b["event"] == sys.argv[1], b
datetime.datetime.strptime(b["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
assert r["content_type"] == "application/json" and r["delivery"] == b["id"], r
if r["path"] == "/ok":
    want = "sha256=" + hmac.new(b"s3cret-for-tests", r["raw"].encode(), hashlib.sha256).hexdigest()
    assert r["signature"] == want, (r["signature"], want)
assert eval(sys.argv[2]), b
' "$2" "$3"; }

"$LABLOOP" sim "$T/lab.yaml" --no-restart >"$T/sim.log" 2>&1 & SIM=$!; PIDS+=($SIM)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 30 q_atleast "select count(*) from steps where status='done'" 2 || fail "the campaign did not get going"

# ---- pause ----
"$LABLOOP" pause $C --reason "refill solvent" | grep -q "now paused" || fail "pause failed"
wait_until 20 nhooks_atleast /ok pause 1 || fail "no pause webhook"
check_body /ok pause 'b["status"] == "paused" and b["kind"] == "campaign.status"' || fail "pause body: $(hooks /ok pause)"
wait_until 20 nhooks_atleast /hang-forever pause 1 || fail "the never-answering receiver got no request"
pass "pause: a signed JSON body with lab, campaign, event, time"

# ---- a timed-out webhook is retried, given up, logged and counted ----
wait_until 30 grep -q "webhook 3 (http://127.0.0.1:$HP/hang): pause .* gave up after 2 attempts" "$T/run.log" || fail "no log line for the timed-out webhook"
grep -q "webhook 3 .*attempt 1 of 2 failed: .*[Tt]ime.*out" "$T/run.log" || fail "the timeout is not in the log: $(grep notify "$T/run.log")"
[ "$(nhooks /hang pause)" = 2 ] || fail "the timed-out webhook was not tried exactly twice: $(nhooks /hang pause)"
"$LABLOOP" status $C --json >"$T/status.json" || fail "status failed"
python3 -c 'import json,sys; n=json.load(open(sys.argv[1]))["notifications"]; assert n["webhooks"] == 4 and n["failed"] >= 1 and n["retried"] >= 1 and n["sent"] >= 1 and "hang" in n["last_error"], n' "$T/status.json" \
  || fail "status does not count the failure: $(cat "$T/status.json")"
"$LABLOOP" status $C | grep -q "^webhooks: .*1 failed.*last error: webhook 3" || fail "status text lacks the webhooks line"
pass "timed-out webhook: retried with backoff, given up, logged, counted in status"

# ---- device lost (while paused) ----
victim=$(pgrep -f -- "sim $T/lab.yaml --device ot2" | head -1); [ -n "$victim" ] || fail "no ot2 worker process"
kill -KILL "$victim"
wait_until 20 nhooks_atleast /ok device.lost 1 || fail "no device.lost webhook"
check_body /ok device.lost 'b["device"] == "ot2" and "reason" in b' || fail "device.lost body: $(hooks /ok device.lost)"
"$LABLOOP" sim "$T/lab.yaml" --device ot2 >"$T/ot2-again.log" 2>&1 & PIDS+=($!)
# Back before the e-stop: a device that rejoins a halted campaign is latched again.
wait_until 30 q_is "select count(*) from devices where name='ot2' and status='ready'" 1 || fail "ot2 did not come back"
pass "device lost: the device and why"

# ---- e-stop; clear-estop leaves the campaign paused without a pause webhook ----
"$LABLOOP" estop $C --reason "smoke in the glovebox" | grep -q "now halted" || fail "estop failed"
wait_until 20 nhooks_atleast /ok estop 1 || fail "no estop webhook"
check_body /ok estop '"smoke in the glovebox" in b["reason"] and b["by"]' || fail "estop body: $(hooks /ok estop)"
"$LABLOOP" clear-estop $C | grep -q "now paused" || fail "clear-estop failed"
"$LABLOOP" resume $C | grep -q "now running" || fail "resume failed"
pass "estop: who and why"

# ---- the end, while one receiver still holds its request open ----
wait_until 120 q_is "select status from campaigns" completed || fail "the campaign did not complete: $(q 'select status from campaigns')"
check_hub_complete 16
[ "$(nhooks /hang-forever pause)" = 1 ] || fail "the never-answering receiver's request was sent again"
kill -0 "$RECV" || fail "the receiver died"
pass "the campaign completed all 16 experiments while a webhook request stayed unanswered"

wait_until 30 nhooks_atleast /ok end 1 || fail "no end webhook"
check_body /ok end 'b["status"] == "completed" and b["summary"]["budget"] == 16 and b["summary"]["experiments"] == 16 and b["summary"]["measured"] + b["summary"]["failed"] == 16 and b["summary"]["best"]["objective"] == "plqy" and "params" in b["summary"]["best"]' \
  || fail "end body: $(hooks /ok end)"
wait_until 30 nhooks_atleast /flaky end 3 || fail "the flaky receiver did not get 3 attempts: $(hooks /flaky end)"
hooks /flaky end | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
assert [r["answer"] for r in rs] == [500, 500, 200], [r["answer"] for r in rs]
assert len({r["delivery"] for r in rs}) == 1 and len({r["raw"] for r in rs}) == 1, "retries differ"
assert rs[0]["signature"] is None' || fail "flaky: $(hooks /flaky end)"
grep -q "webhook 2 (http://127.0.0.1:$HP/flaky): end .*attempt 1 of 4 failed: HTTP 500" "$T/run.log" || fail "the 500 is not logged"
[ "$(nhooks /ok pause)" = 1 ] || fail "expected one pause webhook (clear-estop is not a pause): $(nhooks /ok pause)"
pass "end: summary with progress and best; 500, 500, then delivered on the third attempt with the same body and id"

# The run waits (at most the longest timeout) for the request still open;
# the receiver going away ends it, and that is logged.
kill -TERM "$RECV"
wait "$RUN" || fail "labloop run exited $?"
grep -q "webhook 4 (http://127.0.0.1:$HP/hang-forever): pause .* gave up after 1 attempt" "$T/run.log" || fail "the dropped request is not logged: $(grep notify "$T/run.log")"
grep -q "campaign it completed: 16 experiments" "$T/run.log" || fail "no summary line"
pass "the orchestrator waited for the open request, logged its failure and exited"
