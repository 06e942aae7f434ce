# A worker with an on-disk outbox (the C runtime with the exec driver, and
# the Python client, in turn):
# 1. keeps a finished step's result across its own crash while the
#    orchestrator is down. The orchestrator is stopped (SIGTERM) while
#    attempt 1 runs; the step then finishes and its result waits in the
#    outbox; the worker is killed (SIGKILL) and started again, then the
#    orchestrator. The new worker reads the result back, names it in its
#    Hello and sends it: the campaign completes with the step run once, and
#    the outbox is empty once the result is acknowledged. The step has no
#    retries, so a lost result would fail the experiment.
# 2. never gives a result kept from an earlier run to a new run of the same
#    campaign on a fresh hub (same attempt ids): it is set aside in stale/
#    and the step runs again.
# 3. never runs an attempt again after it was killed while running it: the
#    started journal in the outbox answers the orchestrator's repeated
#    request ("already started"; the step has no retries, so it fails).
# A file in the outbox that is not a saved result is reported and left
# alone; an unusable outbox stops the worker at start; attempt ids too long
# for a file name are named alike by both runtimes.
source "$(dirname "$0")/lib.sh"
worker_gone() { ! kill -0 "$WORKER" 2>/dev/null; }
started_has() { grep -qsx 'box%2F1%2Fmeasure%2F1' "$T"/outbox/started-*.log; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import zmq, google.protobuf' 2>/dev/null || fail "python3-zmq or python3-protobuf is missing for $PY (make deps)"
export LABLOOP_PYTHON_GEN=${LABLOOP_PYTHON_GEN:-$(dirname "$LABLOOP")/gen/python}
[ -f "$LABLOOP_PYTHON_GEN/labloop_pb2.py" ] || fail "no $LABLOOP_PYTHON_GEN/labloop_pb2.py: build it with make"

# An attempt id too long for a file name gets the same cut name from the
# Python client as from the C runtime (tests/unit/test_outbox.c pins these).
name=$(PYTHONPATH="$ROOT/devices/python" "$PY" -c '
from labloop_worker import Worker as W
print(W._outbox_name("1763", "c" * 300 + "/1/measure/1"), W._outbox_name("", "\u00e9/" * 100 + "x"))')
read -r n1 n2 <<<"$name"
[ ${#n1} = 248 ] && [ "${n1: -17}" = "~f98f42ca23b06789" ] && [ "${n2: -17}" = "~69f83417cf747118" ] \
  || fail "the Python client names long attempt ids otherwise than the C runtime: $name"
pass "python: an attempt id too long for a file name is cut and hashed as the C runtime does"

results() { ls "$T/outbox" | grep -c '\.result$'; }
one_result() { [ "$(results)" = 1 ]; }
runs() { if [ -f "$T/runs" ]; then wc -l <"$T/runs"; else echo 0; fi; }

# start_worker KIND [OUTBOX]: the exec worker (its config names the outbox)
# or the Python example with --outbox.
start_worker() {
  local box=${2:-$T/outbox}
  if [ "$1" = exec ]; then
    sed "s|^outbox: .*|outbox: $box|" "$T/uvvis.yaml" >"$T/uvvis-run.yaml"
    "$LABLOOP" worker --config "$T/uvvis-run.yaml" >>"$T/uvvis.log" 2>&1 & WORKER=$!
  else
    "$PY" "$ROOT/devices/python/example_uvvis.py" --name uvvis-1 --endpoint "tcp://127.0.0.1:$PORT" \
      --capability uvvis --duration 3 --outbox "$box" >>"$T/uvvis.log" 2>&1 & WORKER=$!
  fi
  PIDS+=($WORKER)
}

for kind in exec python; do
  T="$IT_DIR/$kind"; mkdir -p "$T"
  PORT=$(free_port)
  DB="$T/campaign.db"
  # the exec step finishes only once the test says go
  cat >"$T/measure.sh" <<SH
#!/bin/sh
echo run >>"$T/runs"
while [ ! -e "$T/go" ]; do sleep 0.05; done
echo '{"absorbance": 0.42}'
SH
  chmod +x "$T/measure.sh"
  write_uvvis_campaign box "retries: 0"
  echo "outbox: $T/outbox" >>"$T/uvvis.yaml"
  [ $kind = exec ] || sed -i 's/from: measure.absorbance/from: measure.absorbance_max/' "$T/campaign.yaml"
  [ $kind != exec ] || "$LABLOOP" worker --config "$T/uvvis.yaml" --check | grep -q "outbox $T/outbox" \
    || fail "worker --check does not show the outbox"

  start_worker $kind
  run_bg
  wait_until 20 q_atleast "select count(*) from steps where attempt = 1 and status in ('dispatched', 'running')" 1 \
    || fail "$kind: the first attempt did not start"
  kill -TERM "$RUN"; wait "$RUN" && true
  touch "$T/go"
  wait_until 10 one_result || fail "$kind: the finished step's result is not in the outbox: $(ls "$T/outbox")"
  kill -KILL "$WORKER"; wait "$WORKER" 2>/dev/null && true
  one_result || fail "$kind: the result did not outlive the worker: $(ls "$T/outbox")"
  saved=$(ls "$T/outbox" | grep '\.result$'); cp "$T/outbox/$saved" "$T/earlier-run.result"
  echo "not a result" >"$T/outbox/junk.result"
  pass "$kind: the result of a step finished while the orchestrator was down is on disk after the worker was killed"

  start_worker $kind
  run_bg
  wait "$RUN" || fail "$kind: labloop run exited $? after the restarts"
  grep -q "1 result(s) not yet acknowledged read back" "$T/uvvis.log" || fail "$kind: the worker did not read its outbox back"
  grep -q "junk.result in the outbox is not a saved result" "$T/uvvis.log" || fail "$kind: the junk file was not reported"
  [ "$(attempts)" = "1:done:1" ] || fail "$kind: attempts: $(attempts)"
  [ $kind != exec ] || [ "$(runs)" = 1 ] || fail "the step ran $(runs) times"
  [ "$(q "select status from experiments")" = measured ] || fail "$kind: the experiment is $(q 'select status || ": " || ifnull(error, "") from experiments')"
  wait_until 5 one_result && [ -f "$T/outbox/junk.result" ] || fail "$kind: after the ack the outbox holds $(ls "$T/outbox")"
  pass "$kind: the restarted worker re-sent the saved result: accepted once, step run once, outbox emptied by the ack"

  # Told that the campaign ended, the worker stopped on its own, with 0.
  wait_until 10 worker_gone || fail "$kind: the worker did not stop at the campaign's end"
  wait "$WORKER" || fail "$kind: the worker exited $? at the campaign's end"
  grep -q "campaign 'box' ended (completed)" "$T/uvvis.log" || fail "$kind: the worker did not say why it stopped"

  # The same campaign again on a fresh hub: its attempt 1 has the same id.
  cp "$T/earlier-run.result" "$T/outbox/$saved"
  rm -f "$DB" "$DB"-*
  start_worker $kind
  run_bg
  wait "$RUN" || fail "$kind: labloop run on a fresh hub exited $?"
  [ "$(attempts)" = "1:done:1" ] || fail "$kind: attempts on the fresh hub: $(attempts)"
  [ $kind != exec ] || [ "$(runs)" = 2 ] || fail "the step ran $(runs) times in all, not twice: the earlier result answered it"
  grep -q "is from another run of the campaign" "$T/uvvis.log" || fail "$kind: the earlier run's result was not set aside"
  [ "$(ls "$T/outbox/stale" | grep -c '\.result$')" = 1 ] || fail "$kind: stale/ holds $(ls "$T/outbox/stale")"
  [ "$(q "select status from experiments")" = measured ] || fail "$kind: the experiment on the fresh hub is $(q 'select status from experiments')"
  pass "$kind: a result kept from an earlier run was set aside in stale/, and the new run's step ran"

  # 3. Killed while its step runs and started again (same run): asked again
  # about the attempt, the worker answers from its started journal and does
  # not run it a second time.
  wait_until 10 worker_gone || fail "$kind: the worker did not stop at the campaign's end"
  wait "$WORKER" || true
  rm -rf "$DB" "$DB"-* "$T/go" "$T/outbox"; : >"$T/runs"
  start_worker $kind
  run_bg
  wait_until 20 started_has || fail "$kind: the attempt is not in the started journal: $(ls "$T/outbox")"
  kill -KILL "$WORKER"; wait "$WORKER" 2>/dev/null && true
  start_worker $kind
  wait "$RUN" || fail "$kind: labloop run exited $? after the worker was killed mid-step"
  touch "$T/go"
  [ "$(attempts)" = "1:failed:1" ] || fail "$kind: attempts: $(attempts)"
  q "select error from steps" | grep -q "already started attempt box/1/measure/1" || fail "$kind: the attempt's error: $(q 'select error from steps')"
  [ $kind != exec ] || [ "$(runs)" = 1 ] || fail "the step ran $(runs) times"
  pass "$kind: a worker killed mid-step and restarted did not run the attempt again (its started journal)"

  # An outbox that cannot be used stops the worker at start with a clear error.
  start_worker $kind "$T/no/such/dir"
  wait "$WORKER" && fail "$kind: a worker with an unusable outbox started"
  grep -q "outbox $T/no/such/dir: .*No such file or directory" "$T/uvvis.log" || fail "$kind: unclear error: $(tail -3 "$T/uvvis.log")"
  pass "$kind: an unusable outbox is refused at start, with the reason"
  kill -TERM "${PIDS[@]}" 2>/dev/null || true
done
T=$IT_DIR

sed 's|^outbox: .*|outbox: ""|' "$IT_DIR/exec/uvvis.yaml" >"$T/bad.yaml"
"$LABLOOP" worker --config "$T/bad.yaml" >"$T/bad.log" 2>&1 && fail "a worker with an empty outbox path started"
grep -q "bad.yaml:[0-9]*:[0-9]*: outbox must not be empty" "$T/bad.log" || fail "unclear error: $(cat "$T/bad.log")"
pass "an empty outbox path is a config error that names its place"
