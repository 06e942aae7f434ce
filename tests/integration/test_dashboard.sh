# The live dashboard in a real browser: a slow simulated campaign runs while
# `labloop serve` serves it; tests/browser/dashboard.test.mjs (playwright-core
# driving Debian's chromium, no browser download) sees the experiment count
# rise and saves a screenshot to build/dashboard.png (or $SCREENSHOT).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER_DIR="$ROOT/tests/browser"
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (scripts/install-deps.sh)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "no chromium at ${CHROMIUM:-/usr/bin/chromium} (scripts/install-deps.sh)"
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  # playwright-core ships no browser and downloads none.
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) || fail "npm ci in tests/browser failed: $(tail -5 "$T/npm.log")"
fi

PORT=$(free_port)
DISPENSE=600s write_lab "$T" "$PORT" 200      # about 3 s per dispense: a slow campaign
write_campaign "$T" "$PORT" 40 2
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 & RUN=$!; PIDS+=($RUN)
# A few results first, so that the plots have points in the screenshot.
wait_until 60 q_atleast "select count(*) from experiments where status='measured'" 2 || fail "the campaign did not start"

HP=$(free_port)
"$LABLOOP" serve "$DB" --http "127.0.0.1:$HP" >"$T/serve.log" 2>&1 & PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$HP/api/summary" || fail "serve did not answer"
pass "campaign running, dashboard at http://127.0.0.1:$HP/"
# A hub of one campaign: / is that campaign's page, not the lab view;
# /api/lab still lists it (from the hub: no lab answers on the default endpoint).
curl -sf "http://127.0.0.1:$HP/" -o "$T/front.html" || fail "GET / failed"
grep -q "<h1>Campaign it &mdash; live dashboard" "$T/front.html" || fail "/ is not the campaign's page: $(head -c 400 "$T/front.html")"
curl -sf "http://127.0.0.1:$HP/api/lab" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [c["name"] for c in d["campaigns"]] == ["it"] and d["campaigns"][0]["budget"] == 40, d
assert {x["name"] for x in d["devices"]} == {"ot2", "hotplate", "pl-1"}, d["devices"]
' || fail "/api/lab of a one-campaign hub: $(curl -s "http://127.0.0.1:$HP/api/lab")"
pass "a one-campaign hub: / is the campaign page; /api/lab lists it with its devices"

SHOT=${SCREENSHOT:-$ROOT/build/dashboard.png}
mkdir -p "$(dirname "$SHOT")"
rm -f "$SHOT"
(cd "$BROWSER_DIR" && LABLOOP_URL="http://127.0.0.1:$HP/" SCREENSHOT="$SHOT" USER_DATA_DIR="$T/chromium-profile" \
   node --test dashboard.test.mjs) >"$T/browser.log" 2>&1 || fail "browser test failed: $(tail -30 "$T/browser.log")"
grep -E "count rose|# pass|# fail" "$T/browser.log" || true
[ -s "$SHOT" ] || fail "no screenshot at $SHOT"
kill -0 "$RUN" 2>/dev/null || fail "the campaign ended before the browser saw it run"
pass "the browser saw the experiment count rise; screenshot $SHOT"
