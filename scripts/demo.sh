#!/usr/bin/env bash
# `make demo`: install what is missing, build, start the simulated lab and run
# the demo campaign closed-loop on it. The hub ends up in build/demo/campaign.db.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
make -s -j2 build/labloop

LABLOOP=build/labloop
DEMO=build/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"

# CURVE keys for the lab (the orchestrator), its three simulated devices and
# an operator; the configs name these files.
for name in lab ot2 hotplate pl-1 demo-operator; do
  "$LABLOOP" keygen "$name" --dir "$DEMO/keys" >/dev/null
done
echo "== made CURVE keys in $DEMO/keys (steer the running campaign with:" \
     "$LABLOOP status examples/demo-campaign.yaml --key $DEMO/keys/demo-operator.key)"

echo "== starting the simulated lab (examples/demo-lab.yaml); its log: $DEMO/sim.log"
"$LABLOOP" sim examples/demo-lab.yaml >"$DEMO/sim.log" 2>&1 &
SIM_PID=$!
cleanup() {
  kill -TERM "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
}
trap cleanup EXIT

echo "== running the campaign (examples/demo-campaign.yaml)"
"$LABLOOP" run examples/demo-campaign.yaml --db "$DEMO/campaign.db"
"$LABLOOP" sim examples/demo-lab.yaml --truth --campaign examples/demo-campaign.yaml

measured=$(sqlite3 "$DEMO/campaign.db" "select count(*) from experiments where status='measured'")
echo
echo "$measured experiments measured; look closer with:"
echo "  $LABLOOP show $DEMO/campaign.db                       # at a glance"
echo "  $LABLOOP log $DEMO/campaign.db                        # the timeline"
echo "  $LABLOOP report $DEMO/campaign.db -o $DEMO/report.html  # plots, one HTML file"
echo "  sqlite3 $DEMO/campaign.db \"select seq, status, objectives from experiments\""
