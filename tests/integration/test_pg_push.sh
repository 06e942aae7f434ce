# `labloop hub push` into a real PostgreSQL 15 server started by the test:
# two labs pushing at once, pushing again sends nothing twice, the server
# killed and restarted mid-push (the push retries and finishes), the pusher
# killed with SIGKILL mid-push (a new push resumes), closed campaigns kept
# in the lab, the export-control flag on every row, row-level security
# (members of another group read nothing, also through `labloop show` and
# `hub search`), search across labs, review commands reading the hub, the
# per-step events arriving with their details, and a version 2 hub pushed as it is.
# Row counts are compared with the SQLite sources after every step.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg.sh"
pg_start
L="$LABLOOP"
TABLES="campaigns devices experiments steps samples artifacts sample_locations events audit"

# same_counts DB LAB [CLOSED_OK]: every table of lab LAB at the hub has as
# many rows as the SQLite hub DB (of its non-closed campaigns unless CLOSED_OK).
same_counts() {
  local db=$1 lab=$2 t src dst
  for t in $TABLES; do
    src=$(sqlite3 -readonly "$db" "select count(*) from $t")
    dst=$(psql_q "select count(*) from labloop.$t where lab = '$lab'")
    [ "$src" = "$dst" ] || fail "lab $lab, table $t: $src rows in the lab's hub, $dst at the PostgreSQL hub"
  done
}
# pushing LAB: some append-only rows of LAB have been committed at the hub.
pushing() {
  local n; n=$(psql_q "select coalesce(max(last_id), 0) from labloop.watermarks where lab = '$1'") && [ "$n" -gt 0 ]
}
# no_duplicates LAB: (lab, id) is the key, so this also checks the natural keys.
no_duplicates() {
  local d
  d=$(psql_q "select count(*) from (select campaign, seq from labloop.experiments where lab = '$1' group by 1, 2 having count(*) > 1) x")
  [ "$d" = 0 ] || fail "lab $1: duplicated experiments at the hub"
}

# ---- two labs pushing concurrently (first push also creates the schema) ----
"$TOOLS/hubgen" "$T/a.db" 20000 --campaigns 4 --rows --name a --access shared >/dev/null
"$TOOLS/hubgen" "$T/b.db" 20000 --campaigns 4 --rows --name b --access shared --export-control >/dev/null
"$L" hub push "$T/a.db" --to "$PGURL" --lab lab-a --group grp_a --chunk 3000 >"$T/push-a.log" 2>&1 & PA=$!
"$L" hub push "$T/b.db" --to "$PGURL" --lab lab-b --group grp_b --chunk 3000 >"$T/push-b.log" 2>&1 & PB=$!
wait "$PA" || fail "push of lab-a failed: $(cat "$T/push-a.log")"
wait "$PB" || fail "push of lab-b failed: $(cat "$T/push-b.log")"
same_counts "$T/a.db" lab-a
same_counts "$T/b.db" lab-b
[ "$(psql_q "select value from labloop.meta where key = 'schema_version'")" = 1 ] || fail "schema version not recorded"
pass "two labs pushed at once; every table's rows equal the sources"

# Again: nothing appended twice (the marks hold), changed rows upserted.
"$L" hub push "$T/a.db" --to "$PGURL" --lab lab-a --group grp_a >"$T/push-a2.log" 2>&1 || fail "second push failed"
grep -q "events" "$T/push-a2.log" && fail "a second push sent events again: $(cat "$T/push-a2.log")"
same_counts "$T/a.db" lab-a
no_duplicates lab-a
pass "a second push appends nothing"

# ---- export control travels with every row ----
for t in $TABLES; do
  n=$(psql_q "select count(*) from labloop.$t where lab = 'lab-b' and export_control <> 1")
  [ "$n" = 0 ] || fail "$n rows of lab-b's $t lost the export-control flag"
  n=$(psql_q "select count(*) from labloop.$t where lab = 'lab-a' and export_control <> 0")
  [ "$n" = 0 ] || fail "$n rows of lab-a's $t are marked export-controlled"
done
pass "export-control flag on every row"

# ---- row-level security: shared rows only for their group ----
psql_q "CREATE ROLE grp_a NOLOGIN; CREATE ROLE grp_b NOLOGIN;
        CREATE ROLE alice LOGIN IN ROLE grp_a; CREATE ROLE bob LOGIN IN ROLE grp_b;
        CREATE ROLE carol LOGIN" >/dev/null
for t in $TABLES; do
  a=$(psql_as alice "select count(*) from labloop.$t where lab = 'lab-a'")
  src=$(sqlite3 -readonly "$T/a.db" "select count(*) from $t")
  [ "$a" = "$src" ] || fail "alice (grp_a) reads $a of lab-a's $src $t rows"
  for who in alice carol; do
    n=$(psql_as "$who" "select count(*) from labloop.$t where lab = 'lab-b'")
    [ "$n" = 0 ] || fail "$who, not in grp_b, reads $n rows of lab-b's $t"
  done
  n=$(psql_as carol "select count(*) from labloop.$t")
  [ "$n" = 0 ] || fail "carol (no group) reads $n rows of $t"
done
psql_as carol "select count(*) from labloop.watermarks" >/dev/null 2>&1 && fail "carol may read the push marks"
"$L" show "$(pg_url bob)" --lab lab-a --campaign a-1 >"$T/show-bob.log" 2>&1 && fail "bob could show lab-a's shared campaign"
grep -q "no campaign 'a-1'" "$T/show-bob.log" || fail "show as bob did not say the campaign is not readable: $(cat "$T/show-bob.log")"
pass "row-level security: members of another group and outsiders read nothing"

# ---- search across labs, honouring access ----
want=$(( $(sqlite3 -readonly "$T/a.db" "select count(*) from experiments where params->>'x' > 0.2 and objectives->>'plqy' >= 0.5") +
         $(sqlite3 -readonly "$T/b.db" "select count(*) from experiments where params->>'x' > 0.2 and objectives->>'plqy' >= 0.5") ))
[ "$want" -gt 0 ] || fail "the generated hubs have no experiment to find"
got=$("$L" hub search "$PGURL" --where 'x > 0.2' --where 'plqy>=0.5' --limit 100000 --json 2>"$T/search.log" | wc -l)
[ "$got" = "$want" ] || fail "search across labs found $got experiments, the sources have $want"
labs=$("$L" hub search "$PGURL" --where 'x > 0.2' --where 'plqy>=0.5' --limit 100000 --json | python3 -c 'import sys, json; print(" ".join(sorted({json.loads(l)["lab"] for l in sys.stdin})))')
[ "$labs" = "lab-a lab-b" ] || fail "search did not cover both labs: $labs"
got_b=$("$L" hub search "$(pg_url bob)" --where 'x > 0.2' --where 'plqy>=0.5' --limit 100000 --json | python3 -c 'import sys, json; print(" ".join(sorted({json.loads(l)["lab"] for l in sys.stdin})))')
[ "$got_b" = "lab-b" ] || fail "bob's search reached labs '$got_b' (only lab-b is his)"
for bad in 'x >> 1' 'x > 1; drop table labloop.events' "x' > 1" '1x > 2' 'x > nan' 'x >' ''; do
  rc=0; "$L" hub search "$PGURL" --where "$bad" >"$T/bad.log" 2>&1 || rc=$?
  [ $rc = 2 ] || fail "search accepted --where '$bad' (exit $rc)"
done
[ "$(psql_q "select count(*) from labloop.events where lab = 'lab-a'")" = "$(sqlite3 -readonly "$T/a.db" "select count(*) from events")" ] || fail "bad input changed the hub"
pass "hub search across labs; bob finds only his group's rows; bad --where refused"

# ---- review commands read one campaign from the hub ----
psql_q "CREATE ROLE grp_c NOLOGIN" >/dev/null
"$TOOLS/hubgen" "$T/c.db" 3000 --rows --name c --access open >/dev/null
"$L" hub push "$T/c.db" --to "$PGURL" --lab lab-c >/dev/null 2>&1 || fail "push of lab-c failed"
"$L" show "$T/c.db" >"$T/show-file.txt" || fail "show of the file failed"
"$L" show "$(pg_url carol)" --lab lab-c --campaign c >"$T/show-pg.txt" 2>"$T/show-pg.log" || fail "show from PostgreSQL failed: $(cat "$T/show-pg.log")"
diff "$T/show-file.txt" "$T/show-pg.txt" >"$T/show.diff" || fail "show differs between the file and the PostgreSQL hub: $(cat "$T/show.diff")"
"$L" log "$T/c.db" --experiment 7 --json >"$T/log-file.txt" || fail "log of the file failed"
"$L" log "$PGURL" --lab lab-c --experiment 7 --json >"$T/log-pg.txt" || fail "log from PostgreSQL failed"
[ -s "$T/log-pg.txt" ] && diff -q "$T/log-file.txt" "$T/log-pg.txt" >/dev/null || fail "log --experiment differs between the file and the hub"
# show and log --experiment copy only part of the campaign: the summary
# (--json: every count and the span), the plain timeline and the
# experiment that does not exist read as from the file.
"$L" show "$T/c.db" --json >"$T/showj-file.txt" || fail "show --json of the file failed"
"$L" show "$PGURL" --lab lab-c --campaign c --json >"$T/showj-pg.txt" || fail "show --json from PostgreSQL failed"
diff "$T/showj-file.txt" "$T/showj-pg.txt" >"$T/showj.diff" || fail "show --json differs between the file and the hub: $(cat "$T/showj.diff")"
"$L" log "$T/c.db" --experiment 12 >"$T/log12-file.txt" || fail "log of the file failed"
"$L" log "$PGURL" --lab lab-c --experiment 12 >"$T/log12-pg.txt" || fail "log --experiment 12 from PostgreSQL failed"
[ -s "$T/log12-pg.txt" ] && diff "$T/log12-file.txt" "$T/log12-pg.txt" >"$T/log12.diff" || fail "log --experiment 12 differs between the file and the hub: $(cat "$T/log12.diff")"
"$L" log "$T/c.db" --experiment 99999 >/dev/null 2>"$T/lognx-file.txt" && fail "log of a missing experiment succeeded"
"$L" log "$PGURL" --lab lab-c --experiment 99999 >/dev/null 2>"$T/lognx-pg.txt" && fail "log of a missing experiment from the hub succeeded"
diff "$T/lognx-file.txt" "$T/lognx-pg.txt" >/dev/null || fail "log of a missing experiment: the hub says '$(cat "$T/lognx-pg.txt")', the file '$(cat "$T/lognx-file.txt")'"
"$L" export "$PGURL" --lab lab-c --format jsonl --table steps >"$T/steps.jsonl" || fail "export from PostgreSQL failed"
[ "$(wc -l <"$T/steps.jsonl")" = "$(sqlite3 -readonly "$T/c.db" "select count(*) from steps")" ] || fail "export from the hub lost steps"
"$L" report "$PGURL" --lab lab-c -o "$T/report.html" || fail "report from PostgreSQL failed"
grep -q "<svg" "$T/report.html" || fail "the report has no plots"
rc=0; "$L" show "$PGURL" --campaign nosuch >"$T/show-amb.log" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "no campaign 'nosuch'" "$T/show-amb.log" || fail "show of a missing campaign: exit $rc, $(cat "$T/show-amb.log")"
"$L" show "$T/c.db" --lab lab-c >/dev/null 2>&1 && fail "--lab with a hub file was accepted"
ls /tmp /dev/shm 2>/dev/null | grep -q "^labloop-review" && fail "a scratch hub was left behind"
pass "show, log, export and report read a campaign from the hub as from its file"

# ---- closed campaigns stay in the lab unless allowed ----
"$TOOLS/hubgen" "$T/d.db" 2000 --rows --name d --access closed >/dev/null
"$L" hub push "$T/d.db" --to "$PGURL" --lab lab-d >/dev/null 2>&1 || fail "push of lab-d failed"
n=$(psql_q "select (select count(*) from labloop.campaigns where lab = 'lab-d') + (select count(*) from labloop.events where lab = 'lab-d')")
[ "$n" = 0 ] || fail "$n rows of a closed campaign reached the hub without --allow-closed"
"$L" hub push "$T/d.db" --to "$PGURL" --lab lab-d --allow-closed >/dev/null 2>&1 || fail "push of lab-d with --allow-closed failed"
same_counts "$T/d.db" lab-d
[ "$(psql_q "select count(*) from labloop.events where lab = 'lab-d' and access <> 'closed'")" = 0 ] || fail "closed rows lost their class"
[ "$(psql_as carol "select count(*) from labloop.events where lab = 'lab-d'")" = 0 ] || fail "carol reads closed rows"
pass "closed campaign not pushed; pushed with --allow-closed, still closed to others"

# ---- the server killed mid-push: the pusher retries and finishes ----
"$TOOLS/hubgen" "$T/e.db" 60000 --rows --name e --access open >/dev/null
"$L" hub push "$T/e.db" --to "$PGURL" --lab lab-e --chunk 250 --retry-for 120 >"$T/push-e.log" 2>&1 & PE=$!; PIDS+=($PE)
wait_until 60 pushing lab-e || fail "the push never got going"
pg_kill
sleep 1
kill -0 "$PE" 2>/dev/null || fail "the pusher gave up when the server died: $(cat "$T/push-e.log")"
pg_restart
wait "$PE" || fail "the push did not finish after the server came back: $(tail -5 "$T/push-e.log")"
grep -q "retrying" "$T/push-e.log" || fail "the pusher never retried (was the server killed after it finished?)"
same_counts "$T/e.db" lab-e
no_duplicates lab-e
pass "server killed and restarted mid-push: retried, resumed, nothing lost or doubled"

# ---- the pusher killed with SIGKILL mid-push: a new push resumes ----
"$TOOLS/hubgen" "$T/f.db" 60000 --rows --name f --access open >/dev/null
"$L" hub push "$T/f.db" --to "$PGURL" --lab lab-f --chunk 250 >"$T/push-f.log" 2>&1 & PF=$!; PIDS+=($PF)
wait_until 60 pushing lab-f || fail "the push never got going"
kill -KILL "$PF"; wait "$PF" 2>/dev/null || true
before=$(psql_q "select count(*) from labloop.events where lab = 'lab-f'")
[ "$before" -lt "$(sqlite3 -readonly "$T/f.db" "select count(*) from events")" ] || fail "the push had finished before it was killed"
"$L" hub push "$T/f.db" --to "$PGURL" --lab lab-f >"$T/push-f2.log" 2>&1 || fail "the push after SIGKILL failed: $(cat "$T/push-f2.log")"
same_counts "$T/f.db" lab-f
no_duplicates lab-f
pass "pusher killed mid-push ($before events were in): the next push completed it exactly"

# ---- the per-step events arrive with the details their rows give them; a
# version 2 hub (before those events were written without one) is pushed as it is ----
n=$(psql_q "select count(*) from labloop.events where lab = 'lab-a' and kind in ('step.done', 'experiment.measured') and detail is null")
[ "$n" = 0 ] || fail "$n per-step events of lab-a arrived at the hub without their detail"
v=$(psql_q "select detail->'values'->>'v' from labloop.events where lab = 'lab-a' and kind = 'step.done' limit 1")
[ "$v" = 1 ] || fail "a step.done at the hub lacks the values its attempt returned: '$v'"
"$TOOLS/hubgen" "$T/g.db" 2000 --rows --name g --access open >/dev/null
sqlite3 "$T/g.db" "DROP VIEW event_log; PRAGMA user_version = 2"
"$L" hub push "$T/g.db" --to "$PGURL" --lab lab-g >"$T/push-g.log" 2>&1 || fail "a version 2 hub was not pushed: $(cat "$T/push-g.log")"
[ "$(sqlite3 -readonly "$T/g.db" "PRAGMA user_version")" = 2 ] || fail "the push migrated the lab's hub"
same_counts "$T/g.db" lab-g
pass "per-step events arrive with the details their rows give; a version 2 hub is pushed as it is"
