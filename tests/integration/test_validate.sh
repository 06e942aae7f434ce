# Broken configs: `labloop validate` and `labloop run` name file:line:column,
# exit non-zero, and `run` creates no hub.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_campaign "$T" "$PORT" 5 1
"$LABLOOP" validate "$T/campaign.yaml" >"$T/ok.log" 2>&1 || fail "a valid config was rejected: $(cat "$T/ok.log")"
pass "valid config accepted"

# Three mistakes: a typo'd key, low above high, an unknown step in 'after'.
sed -e 's/budget: {experiments: 5}/budgte: {experiments: 5}/' \
    -e 's/low: 120, high: 220/low: 400, high: 220/' \
    -e 's/after: \[heat\]/after: [haet]/' "$T/campaign.yaml" >"$T/bad.yaml"
if "$LABLOOP" validate "$T/bad.yaml" >"$T/bad.log" 2>&1; then fail "validate accepted a broken config"; fi
cat "$T/bad.log"
grep -Eq "bad.yaml:1:[0-9]+: .*budgte.*did you mean 'budget'" "$T/bad.log" || fail "no file:line:col for the typo"
grep -Eq "bad.yaml:4:[0-9]+: .*(low|high)" "$T/bad.log" || fail "no file:line:col for low >= high"
grep -Eq "bad.yaml:14:[0-9]+: .*haet" "$T/bad.log" || fail "no file:line:col for the unknown step"
pass "validate reports every error with file:line:column"

if "$LABLOOP" run "$T/bad.yaml" --db "$T/x.db" >"$T/run.log" 2>&1; then fail "run accepted a broken config"; fi
grep -Eq "bad.yaml:14:[0-9]+: .*haet" "$T/run.log" || fail "run does not show file:line:col"
[ ! -e "$T/x.db" ] || fail "run created a hub for a broken config"
pass "run refuses a broken config and creates nothing"

printf 'campaign: {name: x\n  seed: [\n' >"$T/syntax.yaml"
if "$LABLOOP" validate "$T/syntax.yaml" >"$T/syn.log" 2>&1; then fail "validate accepted bad YAML"; fi
grep -Eq "syntax.yaml:[0-9]+:[0-9]+: " "$T/syn.log" || fail "YAML syntax error without position: $(cat "$T/syn.log")"
if "$LABLOOP" validate "$T/missing.yaml" >"$T/miss.log" 2>&1; then fail "validate accepted a missing file"; fi
pass "YAML syntax errors and missing files are reported"

"$LABLOOP" validate >/dev/null 2>&1 && fail "validate without a file succeeded"
[ $? -eq 2 ] || true
"$LABLOOP" validate --help | grep -q "example" || fail "validate --help has no example"
"$LABLOOP" help run | grep -q "example" || fail "help run has no example"
pass "usage and help"

# Declared return values: an objective's `from` must name one of them.
sed -e 's/  - {name: pl-1, capabilities: \[pl_spectrometer\]}/  - {name: pl-1, capabilities: [pl_spectrometer], returns: {pl_spectrometer: [quantum_yield, fwhm_nm]}}/' \
    "$T/campaign.yaml" >"$T/ret.yaml"
grep -q "returns:" "$T/ret.yaml" || fail "could not add returns"
"$LABLOOP" validate "$T/ret.yaml" >"$T/ret.log" 2>&1 || fail "declared returns rejected a right from: $(cat "$T/ret.log")"
sed -i 's/from: measure_pl.quantum_yield/from: measure_pl.quantum_yeld/' "$T/ret.yaml"
if "$LABLOOP" validate "$T/ret.yaml" >"$T/ret.log" 2>&1; then fail "validate accepted a from the step does not return"; fi
grep -Eq "ret.yaml:[0-9]+:[0-9]+: objective 'plqy': step 'measure_pl' \(capability pl_spectrometer\) returns quantum_yield, fwhm_nm, not 'quantum_yeld' \(did you mean 'quantum_yield'\?\)" "$T/ret.log" \
  || fail "unclear message for a wrong from: $(cat "$T/ret.log")"
pass "validate checks objectives' from against the values devices declare (returns)"

# Planner options: an unknown acquisition, and one a model-free planner would ignore.
sed -e 's/planner: {kind: sobol, batch: 1}/planner: {kind: gp, acquisition: qehvi, batch: 1}/' "$T/campaign.yaml" >"$T/acq.yaml"
grep -q qehvi "$T/acq.yaml" || fail "could not set the acquisition"
if "$LABLOOP" validate "$T/acq.yaml" >"$T/acq.log" 2>&1; then fail "validate accepted acquisition qehvi"; fi
grep -Eq "acq.yaml:[0-9]+:[0-9]+: planner.acquisition 'qehvi' is not available; available: ei, log_ei, ucb" "$T/acq.log" || fail "unclear acquisition message: $(cat "$T/acq.log")"
if "$LABLOOP" run "$T/acq.yaml" --db "$T/acq.db" >"$T/acq-run.log" 2>&1; then fail "run accepted acquisition qehvi"; fi
grep -Eq "acq.yaml:[0-9]+:[0-9]+: planner.acquisition" "$T/acq-run.log" || fail "run does not show file:line:col for the acquisition"
pass "validate checks planner.acquisition (the allowed list) with file:line:column"

# Constraint messages: '=<' is a misspelt '<=', and '>=' is reported as written.
for c in "temperature =< 200" "cs_pb_ratio + temperature >= 400"; do
  sed -e "s/^objectives:/constraints:\n  - \"$c\"\nobjectives:/" "$T/campaign.yaml" >"$T/con.yaml"
  if "$LABLOOP" validate "$T/con.yaml" >"$T/con.log" 2>&1; then fail "validate accepted '$c'"; fi
  cat "$T/con.log"
done
grep -q "at most -178.5," "$T/con.log" || fail "the '>=' message has negated numbers"
sed -e "s/^objectives:/constraints:\n  - \"temperature =< 200\"\nobjectives:/" "$T/campaign.yaml" >"$T/con.yaml"
"$LABLOOP" validate "$T/con.yaml" >"$T/con.log" 2>&1 || true
grep -q "'=<' at column 12 is not a comparison: write '<='" "$T/con.log" || fail "'=<' is not named"
pass "constraint messages: '=<' named, '>=' as written"

# Against what the lab says its devices return: a simulated lab (by driver
# and model) and an exec worker (exec.returns).
write_lab "$T" "$PORT" 100
"$LABLOOP" validate "$T/campaign.yaml" --lab "$T/lab.yaml" >"$T/lab.log" 2>&1 || fail "--lab rejected a right config: $(cat "$T/lab.log")"
sed -e 's/from: measure_pl.quantum_yield/from: measure_pl.qy/' "$T/campaign.yaml" >"$T/qy.yaml"
"$LABLOOP" validate "$T/qy.yaml" >"$T/qy.log" 2>&1 || fail "without --lab an undeclared from is accepted: $(cat "$T/qy.log")"
if "$LABLOOP" validate "$T/qy.yaml" --lab "$T/lab.yaml" >"$T/qy.log" 2>&1; then fail "validate --lab accepted a value the spectrometer does not return"; fi
grep -Eq "qy.yaml:[0-9]+:[0-9]+: objective 'plqy': step 'measure_pl' \(capability pl_spectrometer\) returns quantum_yield, fwhm_nm in .*lab.yaml, not 'qy'" "$T/qy.log" \
  || fail "unclear --lab message: $(cat "$T/qy.log")"
cat >"$T/pl.yaml" <<YAML
name: pl-1
endpoint: tcp://127.0.0.1:$PORT
driver: exec
capabilities: [pl_spectrometer]
exec:
  commands:
    pl_spectrometer: [/bin/true]
  returns:
    pl_spectrometer: [qy, peak_nm]
YAML
"$LABLOOP" worker --config "$T/pl.yaml" --check >"$T/wcheck.log" 2>&1 || fail "a worker config with exec.returns is refused: $(cat "$T/wcheck.log")"
"$LABLOOP" validate "$T/qy.yaml" --worker "$T/pl.yaml" >"$T/w.log" 2>&1 || fail "--worker rejected a declared value: $(cat "$T/w.log")"
if "$LABLOOP" validate "$T/campaign.yaml" --worker "$T/pl.yaml" >"$T/w.log" 2>&1; then fail "validate --worker accepted an undeclared value"; fi
grep -q "returns qy, peak_nm in .*pl.yaml, not 'quantum_yield'" "$T/w.log" || fail "unclear --worker message: $(cat "$T/w.log")"
pass "validate --lab and --worker check objectives against what the simulated lab and an exec worker return"
