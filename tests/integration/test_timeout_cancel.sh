# A step that overruns its deadline is not retried while it may still run:
# the orchestrator cancels it and asks again every 3 s until the worker
# answers; only that answer ends the attempt (timed_out, counted) and lets
# the retry start. The scripted peer ignores the deadline and the first
# CANCEL, and answers the second.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_uvvis_campaign slow "retries: 1, timeout: 1s, backoff: 100ms"
DB="$T/campaign.db"
start_peer slow-cancel uvvis-1
timeout 60 "$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
grep -q "^cancel 2 slow/1/measure/1" "$T/peer.txt" || fail "the cancel was not asked again: $(tr '\n' ' ' <"$T/peer.txt")"
order=$(grep -E '^(cancel 2 slow/1/measure/1|request slow/1/measure/2)' "$T/peer.txt" | tr '\n' ' ')
[ "$order" = "cancel 2 slow/1/measure/1 request slow/1/measure/2 " ] || fail "the retry did not wait for the answer to the cancel: $order"
[ "$(attempts)" = "1:timed_out:1 2:done:1" ] || fail "attempts: $(attempts)"
[ "$(q "select status from experiments")" = measured ] || fail "experiment is $(q 'select status from experiments')"
pass "the overrun attempt was cancelled, asked again, and retried only after the worker answered"
