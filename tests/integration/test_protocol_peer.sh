# What a worker written from protocols/PROTOCOL.md alone meets, played by a
# scripted peer (tests/integration/proto_peer.py):
# - a peer of another protocol version is refused in a message it can read:
#   the Refuse BAD_VERSION comes under its own version byte;
# - a worker that follows the e-stop order of §8.1 (cancel its running
#   attempts, then send Control ESTOP) does not have the cancelled attempt
#   held against its step's retries: after clear-estop and resume the step
#   (retries: 0) runs again and the experiment is measured.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_uvvis_campaign order "retries: 0"
DB="$T/campaign.db"
C="--endpoint tcp://127.0.0.1:$((PORT + 1))"
run_bg

start_peer bad-version stranger
wait "$PEER" || fail "the peer exited $?"
grep -q "^reply-version 2 BAD_VERSION" "$T/peer.txt" || fail "the refusal a version 2 peer got: $(cat "$T/peer.txt")"
pass "a version 2 peer gets its Refuse BAD_VERSION under its own version byte"

start_peer estop-order uvvis-1
wait_until 20 q_is "select status from campaigns" halted || fail "the campaign did not halt: $(q 'select status from campaigns')"
wait_until 5 q_is "select count(*) from steps where status = 'cancelled'" 1 || fail "attempts: $(attempts)"
[ "$(attempts)" = "1:cancelled:0" ] || fail "the cancelled attempt counts against retries: $(attempts)"
"$LABLOOP" clear-estop $C | grep -q "now paused" || fail "clear-estop failed"
"$LABLOOP" resume $C | grep -q "now running" || fail "resume failed"
wait "$RUN" || fail "labloop run exited $?"
[ "$(attempts)" = "1:cancelled:0 2:done:1" ] || fail "attempts: $(attempts)"
[ "$(q "select status from experiments")" = measured ] || fail "the experiment is $(q 'select status || ": " || ifnull(error, "") from experiments')"
pass "cancel-then-ESTOP from a device: the attempt did not count; after clear and resume the step ran and was measured"
