# A hostile or broken device cannot flood the hub or the operator's
# terminal. (1) 400 garbage messages from one peer write at most 10
# message.bad rows for it plus a summary row with the count of the rest,
# while another peer's few bad messages are all recorded; the campaign
# completes. (2) A device whose error text and values carry ANSI escape
# sequences and control bytes: `labloop run`, `log` and `show` print them
# without any control character (the hub keeps what the device sent).
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import zmq' 2>/dev/null || fail "python3-zmq is missing for $PY: apt-get install python3-zmq (or make deps)"
PORT=$(free_port)
DISPENSE=120s write_lab "$T" "$PORT" 60      # 2 s per dispense: time to flood
write_campaign "$T" "$PORT" 4 2
DB="$T/campaign.db"
EP="tcp://127.0.0.1:$PORT"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 q_atleast "select count(*) from events where kind='device.ready'" 3 || fail "devices did not register"

"$PY" - "$EP" <<'PY' || fail "could not send the garbage"
import sys, time, zmq
ctx = zmq.Context()
def peer(name, n):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.IDENTITY, name.encode())
    s.setsockopt(zmq.LINGER, 2000)
    s.connect(sys.argv[1])
    for i in range(n):
        s.send(b"not an envelope %d" % i)
    return s
a = peer("flood-1", 400)
b = peer("flood-2", 5)
time.sleep(0.5)          # let libzmq hand the frames over before the sockets close
a.close(); b.close(); ctx.term()
PY
wait "$RUN" || fail "labloop run exited $?"
check_hub_complete 4
rows=$(q "select count(*) from events where kind='message.bad' and subject='flood-1' and json_extract(detail,'$.suppressed') is null")
sup=$(q "select coalesce(sum(json_extract(detail,'$.suppressed')),0) from events where kind='message.bad' and subject='flood-1'")
[ "$rows" -le 10 ] || fail "flood-1 wrote $rows message.bad rows (limit 10 per 10 s)"
[ "$rows" -ge 1 ] || fail "flood-1's bad messages were not recorded at all"
[ $((rows + sup)) = 400 ] || fail "flood-1: $rows rows + $sup counted = $((rows + sup)), expected 400"
[ "$(q "select count(*) from events where kind='message.bad' and subject='flood-2'")" = 5 ] || fail "flood-2's 5 bad messages were not all recorded"
logged=$(grep -c "bad message from 'flood-1'" "$T/run.log" || true)
[ "$logged" -le 10 ] || fail "the log has $logged lines for flood-1's garbage"
grep -q "peer 'flood-1': $sup more bad messages" "$T/run.log" || fail "no summary line in the log"
pass "400 garbage messages: $rows rows + 1 summary of $sup; $logged log lines; the other peer's 5 all recorded"

# ---- (2) control characters from a device ----
PORT=$(free_port)
write_lab "$T" "$PORT" 3000
sed -i '/name: pl-1/d' "$T/lab.yaml"
write_campaign "$T" "$PORT" 3 1
sed -i 's/^hub: campaign.db/hub: text.db/' "$T/campaign.yaml"
cat >"$T/measure.sh" <<'SH'
#!/bin/sh
# a broken instrument: colours, a cursor jump, a terminal title and a bell
printf '\033[31mlamp\033[0m \033]0;pwned\007failure\033[2J\r\n' >&2
printf '{"quantum_yield": 0.5, "fwhm_nm": 20, "note": "ok\\u001b[5mblink\\u0007"}\n'
case "$LABLOOP_ATTEMPT" in */1/measure_pl/*) exit 3 ;; esac
SH
chmod +x "$T/measure.sh"
cat >"$T/pl.yaml" <<YAML
name: pl-1
endpoint: tcp://127.0.0.1:$PORT
driver: exec
capabilities: [pl_spectrometer]
exec: {artifacts: $T/artifacts, commands: {pl_spectrometer: [$T/measure.sh]}}
YAML
DB="$T/text.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim2.log" 2>&1 & PIDS+=($!)
"$LABLOOP" worker --config "$T/pl.yaml" >"$T/pl.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run2.log" 2>&1 || fail "labloop run exited $?"
q "select count(*) from steps where error like '%' || char(27) || '%'" | grep -qx '[1-9][0-9]*' \
  || fail "test setup: the device's escape sequences are not in the hub"
"$LABLOOP" log "$DB" >"$T/log.out" 2>&1 || fail "labloop log failed"
"$LABLOOP" show "$DB" >"$T/show.out" 2>&1 || fail "labloop show failed"
for f in run2.log log.out show.out; do
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/$f"; then
    LC_ALL=C grep -n $'[\x01-\x08\x0b-\x1f\x7f]' "$T/$f" | cat -v | head -5
    fail "$f holds control characters from the device"
  fi
done
grep -q "lamp failure" "$T/log.out" || fail "labloop log lost the device's words: $(grep -m1 failed "$T/log.out")"
grep -q "lamp failure" "$T/run2.log" || fail "labloop run lost the device's words"
pass "run, log and show print the device's text without control characters"
