# The report and the dashboard in a real browser at 1,400 px: a simulated
# campaign with a GP planner (an initial design, then planner points, some
# failures) finishes; tests/browser/report.test.mjs checks both pages against
# numbers computed here from the hub with Python's sqlite3 and saves
# screenshots to build/report-shots/ (or $SHOT_DIR).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER_DIR="$ROOT/tests/browser"
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (scripts/install-deps.sh)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "no chromium at ${CHROMIUM:-/usr/bin/chromium} (scripts/install-deps.sh)"
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) || fail "npm ci in tests/browser failed: $(tail -5 "$T/npm.log")"
fi
PORT=$(free_port)
PL_FAILURE_RATE=0.15 write_lab "$T" "$PORT" 3000
PLANNER=gp write_campaign "$T" "$PORT" 20 4
sed -i 's/planner: {kind: gp, batch: 4}/planner: {kind: gp, batch: 4, initial: {kind: sobol, count: 8}}/' "$T/campaign.yaml"
grep -q "initial: {kind: sobol" "$T/campaign.yaml" || fail "could not set the initial design"
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
"$LABLOOP" report "$DB" -o "$T/report.html" 2>"$T/report.log" || fail "report failed: $(cat "$T/report.log")"

python3 - "$DB" "$T/expect.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("select origin, status, params, objectives from experiments").fetchall()
measured = [r for r in rows if r[1] == "measured"]
by_origin, measured_by_origin = {}, {}
for o, st, _, _ in rows:
    by_origin[o] = by_origin.get(o, 0) + 1
    if st == "measured":
        measured_by_origin[o] = measured_by_origin.get(o, 0) + 1
params = [{"name": "cs_pb_ratio"}, {"name": "temperature"}, {"name": "time"},
          {"name": "ligand", "choices": 3}, {"name": "washes", "integer": True}]
best = max(json.loads(r[3])["plqy"] for r in measured)
json.dump({"experiments": len(rows), "measured": len(measured),
           "failed": sum(1 for r in rows if r[1] == "failed"), "by_origin": by_origin,
           "measured_by_origin": measured_by_origin, "params": params, "best": best},
          open(sys.argv[2], "w"))
print("expect:", json.load(open(sys.argv[2])))
PY
[ "$(q "select count(*) from experiments where status = 'failed'")" -ge 1 ] || fail "no failed experiment to show (seeded; raise PL_FAILURE_RATE)"
[ "$(q "select count(distinct origin) from experiments")" -ge 2 ] || fail "only one origin"

HP=$(free_port)
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" >"$T/serve.log" 2>&1 & PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
SHOTS=${SHOT_DIR:-$ROOT/build/report-shots}
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
(cd "$BROWSER_DIR" && REPORT_URL="file://$T/report.html" LABLOOP_URL="http://127.0.0.1:$HP/" EXPECT="$T/expect.json" \
   SHOT_DIR="$SHOTS" USER_DATA_DIR="$T/chromium-profile" node --test report.test.mjs) >"$T/browser.log" 2>&1 \
  || fail "browser test failed: $(grep -vE '^\s*at ' "$T/browser.log" | tail -40)"
grep -E "^# (pass|fail)" "$T/browser.log" || true
for f in report.png report-planner.png dashboard-full.png dashboard-planner.png; do
  [ -s "$SHOTS/$f" ] || fail "no screenshot $SHOTS/$f"
done
pass "report and dashboard in chromium: numbers equal the hub's, origins marked, failures shown, model view, integer ticks, fit 1,400 px; screenshots in $SHOTS"
