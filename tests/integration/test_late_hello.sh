# A worker's Hello that crosses a step request (sent before the request
# arrived, received after it was dispatched) lists no running attempt. The
# attempt is not declared lost for that: the orchestrator asks the worker
# again with the same request, the worker answers "already running", and
# the step runs once, under one attempt id, with no retry.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_uvvis_campaign late "retries: 2"
DB="$T/campaign.db"
start_peer late-hello uvvis-1
timeout 60 "$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
grep -q "late hello" "$T/peer.txt" || fail "the peer sent no late hello"
[ "$(grep -c '^start ' "$T/peer.txt")" = 1 ] || fail "the step was started $(grep -c '^start ' "$T/peer.txt") times: $(tr '\n' ' ' <"$T/peer.txt")"
[ "$(attempts)" = "1:done:1" ] || fail "attempts in the hub: $(attempts)"
[ "$(q "select status from experiments")" = measured ] || fail "experiment is $(q 'select status from experiments')"
grep -q "^request late/1/measure/1" "$T/peer.txt" || fail "no request"
[ "$(grep -c '^request late/1/measure/1$' "$T/peer.txt")" -ge 2 ] || fail "the request was not asked again after the late hello"
wait_until 5 grep -q '^ended' "$T/peer.txt" || fail "the worker was not told that the campaign ended"
pass "a late hello did not lose the running attempt: one start, one attempt, asked again and answered 'already running'"
