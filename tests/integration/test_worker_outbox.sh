# A worker with an on-disk outbox keeps a finished step's result across its
# own crash while the orchestrator is down. The orchestrator is stopped
# (SIGTERM) while attempt 1 runs; the step finishes and its result waits in
# the outbox; the worker is killed (SIGKILL) and started again, then the
# orchestrator. The new worker reads the result back, names it in its Hello
# and sends it: the campaign completes with the step run once, and the
# outbox is empty once the result is acknowledged. The step has no
# retries, so a lost result would fail the experiment. A file in the outbox
# that is not a saved result is reported and left alone.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
DB="$T/campaign.db"
cat >"$T/measure.sh" <<SH
#!/bin/sh
echo run >>"$T/runs"
sleep 1
echo '{"absorbance": 0.42}'
SH
chmod +x "$T/measure.sh"
write_uvvis_campaign box "retries: 0"
echo "outbox: $T/outbox" >>"$T/uvvis.yaml"
start_worker() { "$LABLOOP" worker --config "$T/uvvis.yaml" >>"$T/uvvis.log" 2>&1 & WORKER=$!; PIDS+=($WORKER); }

start_worker
run_bg
wait_until 20 q_atleast "select count(*) from steps where attempt = 1 and status in ('dispatched', 'running')" 1 \
  || fail "the first attempt did not start"
kill -TERM "$RUN"; wait "$RUN" && true
results() { ls "$T/outbox" | grep -c '\.result$'; }
wait_until 10 eval '[ "$(results)" = 1 ]' || fail "the finished step's result is not in the outbox: $(ls "$T/outbox")"
kill -KILL "$WORKER"; wait "$WORKER" 2>/dev/null && true
[ "$(results)" = 1 ] || fail "the result did not outlive the worker: $(ls "$T/outbox")"
echo "not a result" >"$T/outbox/junk.result"
pass "the result of a step finished while the orchestrator was down is on disk after the worker was killed"

start_worker
run_bg
wait "$RUN" || fail "labloop run exited $? after the restarts"
grep -q "1 result(s) not yet acknowledged read back" "$T/uvvis.log" || fail "the worker did not read its outbox back"
grep -q "junk.result in the outbox is not a saved result" "$T/uvvis.log" || fail "the junk file was not reported"
[ "$(attempts)" = "1:done:1" ] || fail "attempts: $(attempts)"
[ "$(wc -l <"$T/runs")" = 1 ] || fail "the step ran $(wc -l <"$T/runs") times"
[ "$(q "select status from experiments")" = measured ] || fail "the experiment is $(q 'select status || ": " || ifnull(error, "") from experiments')"
wait_until 5 eval '[ "$(results)" = 1 ]' && [ -f "$T/outbox/junk.result" ] \
  || fail "after the ack the outbox holds $(ls "$T/outbox")"
pass "the restarted worker re-sent the saved result: accepted once, step run once, outbox emptied by the ack"

# An outbox that cannot be used stops the worker at start with a clear error.
sed "s|^outbox: .*|outbox: $T/no/such/dir|" "$T/uvvis.yaml" >"$T/bad1.yaml"
"$LABLOOP" worker --config "$T/bad1.yaml" >"$T/bad1.log" 2>&1 && fail "a worker with an unusable outbox started"
grep -q "outbox $T/no/such/dir: cannot make the directory" "$T/bad1.log" || fail "unclear error: $(cat "$T/bad1.log")"
sed 's|^outbox: .*|outbox: ""|' "$T/uvvis.yaml" >"$T/bad2.yaml"
"$LABLOOP" worker --config "$T/bad2.yaml" >"$T/bad2.log" 2>&1 && fail "a worker with an empty outbox path started"
grep -q "bad2.yaml:[0-9]*:[0-9]*: 'outbox' must be a directory" "$T/bad2.log" || fail "unclear error: $(cat "$T/bad2.log")"
pass "an unusable or empty outbox path is refused at start, with the reason"
