# Replication of a running campaign into a real PostgreSQL 15 server: the
# orchestrator's own replication thread (`hub: {replicate_to: ...}`) and a
# separate `labloop hub push --follow`, both while the simulated campaign
# runs, with the server killed and restarted in the middle. Afterwards both
# copies hold exactly the rows of the lab's hub, and `show` reads the same
# from either. A campaign whose shared hub cannot be reached at all still
# runs to its end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg.sh"
pg_start
L="$LABLOOP"
DB="$T/campaign.db"
TABLES="campaigns devices experiments steps samples artifacts sample_locations events audit"
same_counts() {
  local lab=$1 t src dst
  for t in $TABLES; do
    src=$(q "select count(*) from $t")
    dst=$(psql_q "select count(*) from labloop.$t where lab = '$lab'")
    [ "$src" = "$dst" ] || fail "lab $lab, table $t: $src rows in the lab's hub, $dst at the PostgreSQL hub"
  done
}
same_rows() {   # the changing rows arrived in their final state
  local lab=$1
  [ "$(psql_q "select status from labloop.campaigns where lab = '$lab'")" = completed ] || fail "lab $lab: campaign not completed at the hub"
  local a b
  a=$(q "select group_concat(seq || ':' || status || ':' || coalesce(objectives, ''), ' ') from (select * from experiments order by seq)")
  b=$(psql_q "select string_agg(seq || ':' || status || ':' || coalesce(objectives::text, ''), ' ' order by seq) from labloop.experiments where lab = '$lab'")
  [ "$a" = "$b" ] || fail "lab $lab: experiments differ from the lab's hub"
  a=$(q "select group_concat(attempt_id || ':' || status || ':' || coalesce(finished_us, ''), ' ') from (select * from steps order by id)")
  b=$(psql_q "select string_agg(attempt_id || ':' || status || ':' || coalesce(finished_us::text, ''), ' ' order by id) from labloop.steps where lab = '$lab'")
  [ "$a" = "$b" ] || fail "lab $lab: steps differ from the lab's hub"
}

PORT=$(free_port)
DISPENSE=30s write_lab "$T" "$PORT" 100
write_campaign "$T" "$PORT" 24 3
sed -i "s|^hub: campaign.db|hub: {file: campaign.db, replicate_to: \"$PGURL\", lab: lab-r, group: grp_r}|" "$T/campaign.yaml"
grep -q "replicate_to" "$T/campaign.yaml" || fail "could not set hub.replicate_to"
"$L" validate "$T/campaign.yaml" >"$T/validate.log" 2>&1 || fail "the campaign does not validate: $(cat "$T/validate.log")"

# Bad hub mappings are refused with the line and what is wrong.
for bad in 'hub: {file: c.db, replicate_to: "mysql://x/y"}|must be a postgresql:// URL' \
           'hub: {file: c.db, lab: a}|hub.lab goes with hub.replicate_to' \
           'hub: {file: c.db, replicat_to: "postgresql://x/y"}|did you mean' \
           'hub: [a, b]|must be a file name or a mapping'; do
  sed "s|^hub: .*|${bad%%|*}|" "$T/campaign.yaml" >"$T/bad.yaml"
  rc=0; "$L" validate "$T/bad.yaml" >"$T/bad.log" 2>&1 || rc=$?
  [ $rc != 0 ] && grep -q "bad.yaml:[0-9]*:[0-9]*:.*${bad#*|}" "$T/bad.log" || fail "validate accepted or misreported '${bad%%|*}': $(cat "$T/bad.log")"
done
pass "bad hub mappings refused with file:line:column"

"$L" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$L" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 test -f "$DB" || fail "the hub never appeared"
"$L" hub push "$DB" --to "$PGURL" --lab lab-f --follow --poll 200 >"$T/follow.log" 2>&1 & FOLLOW=$!; PIDS+=($FOLLOW)
wait_until 30 q_atleast "select count(*) from experiments where status = 'measured'" 4 || fail "the campaign did not get going"
wait_until 20 test "$(psql_q "select count(*) from labloop.experiments where lab = 'lab-f'")" -gt 0 2>/dev/null || true
n=$(psql_q "select count(*) from labloop.events where lab = 'lab-r'")
[ "$n" -gt 0 ] || fail "the orchestrator's replication pushed nothing while the campaign ran"
pg_kill
killed_at=$(q "select count(*) from events")
sleep 2
kill -0 "$FOLLOW" 2>/dev/null || fail "hub push --follow died with the server: $(tail -5 "$T/follow.log")"
kill -0 "$RUN" 2>/dev/null || fail "the campaign ended before the server came back; the test needs a slower lab"
pg_restart
wait "$RUN" || fail "labloop run exited $? (the campaign must not depend on the shared hub)"
check_hub_complete 24
[ "$(q "select count(*) from events")" -gt "$killed_at" ] || fail "the campaign wrote nothing after the server was killed"
sleep 1
kill -TERM "$FOLLOW"; wait "$FOLLOW" || fail "hub push --follow exited $? on SIGTERM: $(tail -5 "$T/follow.log")"
grep -q "retrying" "$T/follow.log" || fail "hub push --follow never retried while the server was down"
same_counts lab-f
same_rows lab-f
pass "hub push --follow during the campaign, server killed and restarted: every row, final states"
same_counts lab-r
same_rows lab-r
pass "the orchestrator's own replication (hub.replicate_to): every row, final states"

"$L" show "$DB" >"$T/show-file.txt"
"$L" show "$PGURL" --lab lab-r --campaign it >"$T/show-pg.txt" || fail "show from the hub failed"
diff "$T/show-file.txt" "$T/show-pg.txt" >"$T/show.diff" || fail "show differs: $(cat "$T/show.diff")"
"$L" log "$DB" --experiment 5 >"$T/log-file.txt"
"$L" log "$PGURL" --lab lab-r --campaign it --experiment 5 >"$T/log-pg.txt" || fail "log from the hub failed"
diff -q "$T/log-file.txt" "$T/log-pg.txt" >/dev/null || fail "log --experiment differs between the file and the hub"
pass "show and log read the same from the shared hub"

# A shared hub that cannot be reached: the campaign runs to its end anyway.
T2="$T/unreachable"; mkdir -p "$T2"
PORT2=$(free_port)
DEAD=$(free_port)
write_lab "$T2" "$PORT2" 3000
write_campaign "$T2" "$PORT2" 6 3
sed -i "s|^campaign: {name: it,|campaign: {name: it2,|; s|^hub: campaign.db|hub: {file: campaign.db, replicate_to: \"postgresql://postgres@127.0.0.1:$DEAD/labhub\"}|" "$T2/campaign.yaml"
"$L" sim "$T2/lab.yaml" >"$T/sim2.log" 2>&1 & PIDS+=($!)
timeout 60 "$L" run "$T2/campaign.yaml" >"$T/run2.log" 2>&1 || fail "the campaign with an unreachable shared hub did not end: $(tail -5 "$T/run2.log")"
DB="$T2/campaign.db" q_is "select status from campaigns" completed || fail "the campaign with an unreachable shared hub did not complete"
pass "an unreachable shared hub does not hold the campaign up"
