# Warm start: a campaign whose config names a prior (a CSV of earlier
# experiments, or another hub's campaign) tells them to its gp planner before
# the first ask, records them in its hub with origin 'prior' (seq <= 0, not
# counted against the budget) and reaches its target in fewer experiments
# than the same campaign started cold. A prior that does not fit the space is
# refused before anything runs.
source "$(dirname "$0")/lib.sh"
TARGET=${TARGET:-0.8}
PORT=$(free_port)
write_lab "$T" "$PORT" 3000
# a fresh simulated lab on its own port for each campaign (a lab's workers
# keep per-run state); the earlier ones stop at cleanup
new_sim() {
  PORT=$(free_port)
  write_lab "$T" "$PORT" 3000
  "$LABLOOP" sim "$T/lab.yaml" >>"$T/sim.log" 2>&1 & PIDS+=($!)
}
new_sim

# earlier work: 16 Sobol experiments in another hub
write_campaign "$T" "$PORT" 16 2
sed -i 's/^hub: campaign.db/hub: earlier.db/; s/name: it,/name: earlier,/' "$T/campaign.yaml"
"$LABLOOP" run "$T/campaign.yaml" >"$T/earlier.log" 2>&1 || fail "earlier campaign exited $?"
DB="$T/earlier.db"
n_prior=$(q "select count(*) from experiments where status in ('measured','failed')")
[ "$n_prior" -ge 10 ] || fail "the earlier campaign measured only $n_prior"
# the same experiments as a CSV with units in the header
q "select json_extract(params,'$.cs_pb_ratio'), json_extract(params,'$.temperature'), json_extract(params,'$.time'),
          json_extract(params,'$.ligand'), json_extract(params,'$.washes'), status,
          coalesce(json_extract(objectives,'$.plqy'), '')
   from experiments where status in ('measured','failed') order by seq" | tr '|' ',' >"$T/rows.csv"
{ echo "cs_pb_ratio,temperature [degC],time [s],ligand,washes,status,plqy"; cat "$T/rows.csv"; } >"$T/earlier.csv"

# gp campaigns with a target: cold, warm from the CSV, warm from the other hub
run_gp() { # NAME PRIOR_YAML -> experiments to the target
  write_campaign "$T" "$PORT" 40 1
  sed -i "s/^hub: campaign.db/hub: $1.db/; s/name: it, seed: \([0-9]*\), budget: {experiments: 40}}/name: $1, seed: \1, budget: {experiments: 40}, stop_when: {objective: plqy, at_least: $TARGET}}/; s/planner: {kind: sobol, batch: 1}/planner: {kind: gp, batch: 1}/" "$T/campaign.yaml"
  [ -n "$2" ] && echo "$2" >>"$T/campaign.yaml"
  grep -q "kind: gp" "$T/campaign.yaml" && grep -q stop_when "$T/campaign.yaml" || fail "test setup: campaign not rewritten"
  "$LABLOOP" run "$T/campaign.yaml" >"$T/$1.log" 2>&1 || fail "$1 campaign exited $?"
  DB="$T/$1.db"
  q "select count(*) from experiments where seq > 0"
}
new_sim
n_cold=$(run_gp cold "")
grep -q "target reached" "$T/cold.log" || echo "note: the cold campaign did not reach $TARGET in 40"
new_sim
n_csv=$(run_gp warmcsv "prior: {csv: earlier.csv}")
grep -q "target reached" "$T/warmcsv.log" || fail "the warm-started campaign did not reach $TARGET"
grep -q "prior: $n_prior earlier experiments told" "$T/warmcsv.log" || fail "the run does not say the prior was told"
DB="$T/warmcsv.db"
[ "$(q "select count(*) from experiments where origin='prior' and seq <= 0")" = "$n_prior" ] || fail "the prior is not in the hub with origin prior"
[ "$(q "select count(*) from experiments where origin='prior' and status='measured' and json_extract(objectives,'$.plqy') is not null")" -ge 1 ] \
  || fail "the prior's objectives are not in the hub"
[ "$(q "select count(*) from experiments where seq > 0 and origin='prior'")" = 0 ] || fail "a prior row took a campaign number"
"$LABLOOP" show "$T/warmcsv.db" >"$T/show.txt" 2>&1 || fail "labloop show failed"
grep -q "of which $n_prior from the prior" "$T/show.txt" || fail "labloop show does not count the prior"
[ "$n_csv" -lt "$n_cold" ] || fail "warm start from the CSV took $n_csv experiments, cold $n_cold"
echo "figure: experiments to plqy >= $TARGET: cold $n_cold, warm-started from $n_prior earlier ones (CSV) $n_csv"
pass "target plqy >= $TARGET: cold $n_cold experiments, warm-started from $n_prior earlier ones (CSV) $n_csv"

new_sim
n_hub=$(run_gp warmhub "prior: {hub: earlier.db, campaign: earlier}")
grep -q "prior: $n_prior earlier experiments told" "$T/warmhub.log" || fail "the prior from the other hub was not told"
[ "$(q "select count(*) from experiments where origin='prior'")" = "$n_prior" ] || fail "the prior from the other hub is not in the hub"
# the simulated lab's noise differs from run to run: the count is a figure, not a check
echo "figure: warm start from the other hub's campaign: $n_hub experiments to plqy >= $TARGET (cold $n_cold)"
pass "the same prior read from the other hub's campaign: $n_hub experiments"

# a prior outside the space is refused before anything runs
sed 's/^\([0-9.]*\),/9.5,/' "$T/earlier.csv" >"$T/bad.csv"
write_campaign "$T" "$PORT" 5 1
sed -i 's/^hub: campaign.db/hub: bad.db/' "$T/campaign.yaml"
echo "prior: {csv: bad.csv}" >>"$T/campaign.yaml"
"$LABLOOP" run "$T/campaign.yaml" >"$T/bad.log" 2>&1 && fail "a prior outside the space was accepted"
grep -q "bad.csv:2: cs_pb_ratio = 9.5 is outside" "$T/bad.log" || fail "no clear message: $(tail -2 "$T/bad.log")"
[ ! -s "$T/bad.db" ] || [ "$(sqlite3 "$T/bad.db" "select count(*) from experiments" 2>/dev/null || echo 0)" = 0 ] || fail "the refused campaign wrote experiments"
pass "a prior value outside the space is refused with its file and line"
