# The review commands against a real simulated campaign: `log --follow`
# while it runs, then show, report, export (csv, jsonl, jsonld), the access
# policy (closed refuses, --force audits), the dashboard's HTTP API and its
# token check, and clear errors. Numbers are compared with the hub itself
# (tests/integration/review_check.py reads it with Python's sqlite3).
source "$(dirname "$0")/lib.sh"
CHECK="python3 $(dirname "$0")/review_check.py"
PORT=$(free_port)
write_lab "$T" "$PORT" 3000
write_campaign "$T" "$PORT" 12 3
# Two objectives (a Pareto front), export-controlled, and an operator name
# full of HTML metacharacters (the report must escape it).
python3 - "$T/campaign.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("campaign: {name: it, ",
              "campaign: {name: it, operator: \"a<b>&'q\\\"\", access: open, export_control: true, ", 1)
s = s.replace("  - {name: plqy, goal: maximize, from: measure_pl.quantum_yield}\n",
              "  - {name: plqy, goal: maximize, from: measure_pl.quantum_yield}\n"
              "  - {name: fwhm, goal: minimize, from: measure_pl.fwhm_nm, unit: nm}\n", 1)
open(p, "w").write(s)
PY
grep -q "name: fwhm" "$T/campaign.yaml" || fail "could not add the second objective"
"$LABLOOP" validate "$T/campaign.yaml" >"$T/validate.log" 2>&1 || fail "test campaign does not validate: $(cat "$T/validate.log")"
DB="$T/campaign.db"
L="$LABLOOP"

# ---- log --follow while the campaign runs; it must stop by itself at the end
"$L" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$L" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
wait_until 20 test -f "$DB" || fail "the hub never appeared"
"$L" log "$DB" --follow --json >"$T/follow.jsonl" 2>"$T/follow.log" & FOLLOW=$!; PIDS+=($FOLLOW)
wait "$RUN" || fail "labloop run exited $?"
check_hub_complete 12
end=$(( $(date +%s) + 10 ))
while kill -0 "$FOLLOW" 2>/dev/null; do
  [ "$(date +%s)" -lt "$end" ] || fail "log --follow did not stop after the campaign completed"
  sleep 0.05
done
wait "$FOLLOW" || fail "log --follow exited $?: $(cat "$T/follow.log")"
[ "$(wc -l <"$T/follow.jsonl")" = "$(q 'select count(*) from events')" ] \
  || fail "log --follow printed $(wc -l <"$T/follow.jsonl") events, the hub has $(q 'select count(*) from events')"
python3 -c '
import json, sys
kinds = [json.loads(l)["kind"] for l in open(sys.argv[1])]
assert kinds[-1] == "campaign.status", kinds[-1]
' "$T/follow.jsonl" || fail "log --follow did not end with the final status"
pass "log --follow printed every event while the campaign ran and stopped at its end"

# ---- log filters
n=$("$L" log "$DB" --experiment 3 --json | wc -l)
[ "$n" = "$(q "select count(*) from event_log where detail->>'experiment' = 3")" ] || fail "log --experiment 3 printed $n events"
n=$("$L" log "$DB" --device pl-1 --json | wc -l)
[ "$n" = "$(q "select count(*) from event_log where subject='pl-1' or detail->>'device'='pl-1'")" ] || fail "log --device printed $n events"
mid=$(q "select t_us from events order by id limit 1 offset (select count(*)/2 from events)")
iso=$(q "select strftime('%Y-%m-%dT%H:%M:%SZ', $mid/1000000, 'unixepoch')")
n=$("$L" log "$DB" --since "$iso" --json | wc -l)
[ "$n" = "$(q "select count(*) from events where t_us >= ($mid/1000000)*1000000")" ] || fail "log --since $iso printed $n events"
[ "$("$L" log "$DB" --since 1d --json | wc -l)" = "$(q 'select count(*) from events')" ] || fail "log --since 1d is not everything"
[ "$("$L" log "$DB" --since 2099-01-01 --json | wc -l)" = 0 ] || fail "log --since the future is not empty"
set +e; "$L" log "$DB" --since yesterday >/dev/null 2>"$T/err.txt"; rc=$?; set -e
[ $rc = 2 ] && grep -q "ISO time" "$T/err.txt" || fail "bad --since: exit $rc, $(cat "$T/err.txt")"
pass "log --experiment, --device, --since select the hub's events"

# ---- show
"$L" show "$DB" >"$T/show.txt" || fail "show failed"
grep -q "^campaign it: completed" "$T/show.txt" || fail "show: no status line: $(head -3 "$T/show.txt")"
grep -q "^experiments: 12 ($(q "select count(*) from experiments where status='measured'") measured, $(q "select count(*) from experiments where status='failed'") failed" "$T/show.txt" \
  || fail "show: counts differ from the hub: $(grep experiments: "$T/show.txt")"
grep -q "^pareto front: " "$T/show.txt" || fail "show: no Pareto front"
grep -q "^devices" "$T/show.txt" && grep -q "pl-1 .* busy" "$T/show.txt" || fail "show: no device utilisation"
"$L" show "$DB" --json >"$T/show.json" || fail "show --json failed"
$CHECK show "$DB" "$T/show.json" || fail "show --json differs from the hub"
pass "show: counts, best, Pareto front, utilisation and failures equal the hub's"

# ---- report
"$L" report "$DB" -o "$T/report.html" 2>"$T/report.log" || fail "report failed: $(cat "$T/report.log")"
$CHECK report "$DB" "$T/report.html" 5 2 || fail "report check failed"
grep -q "a&lt;b&gt;&amp;&#39;q&quot;" "$T/report.html" || fail "the operator's name is not HTML-escaped in the report"
pass "report: valid HTML, SVG plots, experiment table equal to the hub, escaped text"

# ---- export round trips (the campaign is open and export-controlled)
for t in experiments steps events devices; do
  "$L" export "$DB" --format csv --raw --table "$t" -o "$T/$t.csv" || fail "export csv $t failed"
  $CHECK csv "$DB" "$T/$t.csv" "$t" 1 || fail "CSV $t differs from the hub"
  "$L" export "$DB" --format jsonl --table "$t" -o "$T/$t.jsonl" || fail "export jsonl $t failed"
  $CHECK jsonl "$DB" "$T/$t.jsonl" "$t" 1 || fail "JSON lines $t differ from the hub"
done
"$L" export "$DB" --format jsonld -o "$T/dataset.jsonld" || fail "export jsonld failed"
$CHECK jsonld "$DB" "$T/dataset.jsonld" 1 || fail "JSON-LD check failed"
pass "export: CSV (--raw) and JSON lines round-trip every table; JSON-LD is a schema.org Dataset with units"

# ---- tidy CSV read by pandas, RO-Crate parsed by rdflib (Debian's python3-pandas, python3-rdflib)
PY=/usr/bin/python3
"$L" export "$DB" --format csv -o "$T/tidy-experiments.csv" || fail "tidy export failed"
"$L" export "$DB" --format csv --table steps -o "$T/tidy-steps.csv" || fail "tidy steps export failed"
$PY "$(dirname "$0")/export_check.py" tidy "$DB" "$T/tidy-experiments.csv" "$T/tidy-steps.csv" \
  cs_pb_ratio "temperature [degC]" "time [s]" ligand washes plqy "fwhm [nm]" || fail "tidy CSV differs from the hub"
"$L" export "$DB" --format ro-crate -o "$T/crate" 2>"$T/crate.log" || fail "RO-Crate export failed: $(cat "$T/crate.log")"
$PY "$(dirname "$0")/export_check.py" crate "$DB" "$T/crate" || fail "RO-Crate check failed"
set +e; "$L" export "$DB" --format ro-crate -o "$T/crate" 2>"$T/err.txt"; rc=$?; set -e
[ $rc = 1 ] && grep -q "crate" "$T/err.txt" || fail "RO-Crate over an existing directory: exit $rc, $(cat "$T/err.txt")"
set +e; "$L" export "$DB" --format ro-crate 2>"$T/err.txt"; rc=$?; set -e
[ $rc = 2 ] && grep -q -- "-o DIR" "$T/err.txt" || fail "RO-Crate without -o: exit $rc"
pass "export: tidy CSV read by pandas equals the hub (units in headers, UTC times); RO-Crate parsed by rdflib names every file, instrument, person and unit"

# ---- access policy: a closed campaign refuses export; --force is audited
sqlite3 -readonly "$DB" ".backup '$T/closed.db'"
sqlite3 "$T/closed.db" "update campaigns set access='closed'"
set +e; "$L" export "$T/closed.db" --format csv -o "$T/closed.csv" 2>"$T/err.txt"; rc=$?; set -e
[ $rc = 1 ] || fail "export of a closed campaign exited $rc"
grep -q "closed" "$T/err.txt" && grep -q -- "--force" "$T/err.txt" || fail "unclear refusal: $(cat "$T/err.txt")"
[ ! -e "$T/closed.csv" ] || fail "a refused export still wrote a file"
[ "$(sqlite3 "$T/closed.db" 'select count(*) from audit')" = 0 ] || fail "a refused export wrote audit rows"
"$L" export "$T/closed.db" --format jsonl -o "$T/closed.jsonl" --force 2>"$T/err.txt" || fail "forced export failed: $(cat "$T/err.txt")"
[ "$(sqlite3 "$T/closed.db" "select count(*) from audit where action='export' and actor='$(id -un)' and target='it'")" = 1 ] \
  || fail "forced export not audited: $(sqlite3 "$T/closed.db" 'select * from audit')"
[ "$(wc -l <"$T/closed.jsonl")" = 12 ] || fail "forced export incomplete"
pass "closed campaign: export refused without --force; --force exports and writes audit"

# ---- the dashboard's HTTP API and its token check
HP=$(free_port)
"$L" serve "$DB" --http "127.0.0.1:$HP" --token s3cret-token --control "tcp://127.0.0.1:$(free_port)" >"$T/serve.log" 2>&1 & SERVE=$!; PIDS+=($SERVE)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
[ "$(curl -s "http://127.0.0.1:$HP/api/summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["experiments"])')" = 12 ] \
  || fail "/api/summary does not count 12 experiments"
curl -s "http://127.0.0.1:$HP/" >"$T/dash.html"
# The same page as the report, plus its script (the only difference the check reports).
dash=$($CHECK report "$DB" "$T/dash.html" 5 2 2>&1 || true)
grep -q "<script> elements" <<<"$dash" || fail "dashboard page lacks its script or is malformed: $dash"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -X POST "http://127.0.0.1:$HP/api/control/pause")" = 401 ] || fail "control without a token was not 401"
[ "$(code -X POST -H 'Authorization: Bearer wrong-token' "http://127.0.0.1:$HP/api/control/pause")" = 401 ] || fail "control with a wrong token was not 401"
# The campaign has ended, so no orchestrator answers on the control endpoint: 502 with why.
[ "$(code -X POST -H 'Authorization: Bearer s3cret-token' "http://127.0.0.1:$HP/api/control/pause")" = 502 ] || fail "control with the token and no orchestrator was not 502"
curl -s -X POST -H 'Authorization: Bearer s3cret-token' "http://127.0.0.1:$HP/api/control/pause" | grep -q "no orchestrator answered" || fail "502 without the reason"
[ "$(code -X POST -H 'Authorization: Bearer s3cret-token' "http://127.0.0.1:$HP/api/control/explode")" = 404 ] || fail "unknown control action was not 404"
[ "$(code "http://127.0.0.1:$HP/nope")" = 404 ] || fail "unknown page was not 404"
kill -TERM "$SERVE"; wait "$SERVE" || fail "serve did not stop cleanly on SIGTERM"
"$L" serve "$DB" --http "127.0.0.1:$HP" >"$T/serve2.log" 2>&1 & SERVE=$!; PIDS+=($SERVE)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve (read-only) did not answer"
[ "$(code -X POST -H 'Authorization: Bearer s3cret-token' "http://127.0.0.1:$HP/api/control/abort")" = 403 ] || fail "control on a read-only dashboard was not 403"
kill -TERM "$SERVE"; wait "$SERVE" || true
pass "serve: /api/summary equals the hub; control needs the token (401), says when no orchestrator answers (502), 403 read-only"

# ---- clear errors and exit codes
echo "not a hub" >"$T/junk.db"
for c in show log report export serve; do
  "$L" "$c" --help | grep -q "example" || fail "$c --help has no example"
  set +e; "$L" "$c" >/dev/null 2>&1; rc=$?; set -e
  [ $rc = 2 ] || fail "$c without a hub exited $rc, not 2"
done
set +e
"$L" show "$T/missing.db" 2>"$T/err.txt"; rc=$?
[ $rc = 1 ] && grep -q "missing.db" "$T/err.txt" || fail "missing hub: exit $rc, $(cat "$T/err.txt")"
"$L" report "$T/junk.db" -o "$T/x.html" 2>"$T/err.txt"; rc=$?
[ $rc = 1 ] && grep -qi "not an SQLite database\|not a labloop hub" "$T/err.txt" || fail "junk hub: exit $rc, $(cat "$T/err.txt")"
"$L" export "$DB" --format xml 2>"$T/err.txt"; rc=$?
[ $rc = 2 ] && grep -q "unknown format 'xml'" "$T/err.txt" || fail "unknown format: exit $rc, $(cat "$T/err.txt")"
"$L" export "$DB" --format csv --table samples 2>"$T/err.txt"; rc=$?
[ $rc = 2 ] || fail "unknown table: exit $rc"
set -e
pass "errors: missing hub, not a hub, unknown format and table; --help with examples"
