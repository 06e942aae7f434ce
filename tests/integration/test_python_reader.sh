# The researchers' Python reader (python/labloop_data.py, pandas) on a real
# simulated campaign's hub: DataFrames equal the hub's rows and the tidy CSV
# export, with typed, unit-labelled columns; the example runs.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3    # Debian's, with python3-pandas and python3-yaml
PORT=$(free_port)
write_lab "$T" "$PORT" 3000
write_campaign "$T" "$PORT" 10 3
sed -i 's|  - {name: plqy, goal: maximize, from: measure_pl.quantum_yield}|&\n  - {name: fwhm, goal: minimize, from: measure_pl.fwhm_nm, unit: nm}|' "$T/campaign.yaml"
grep -q "name: fwhm" "$T/campaign.yaml" || fail "could not add the second objective"
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
"$LABLOOP" export "$DB" --format csv -o "$T/experiments.csv" || fail "export failed"
$PY "$(dirname "$0")/../python/check_labloop_data.py" "$DB" "$T/experiments.csv" || fail "the Python reader's check failed"
pass "python reader: experiments, steps and events as typed DataFrames with units, equal to the hub"
PYTHONPATH="$(dirname "$0")/../../python" $PY "$(dirname "$0")/../../python/example_read_hub.py" "$DB" >"$T/example.txt" \
  || fail "the example failed: $(cat "$T/example.txt")"
grep -q "best by plqy" "$T/example.txt" && grep -q "plqy by ligand" "$T/example.txt" || fail "example output: $(cat "$T/example.txt")"
pass "python/example_read_hub.py runs on the hub"
