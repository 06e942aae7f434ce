# Whole batches: with planner.refill: false a gp campaign with batch 4 asks
# its planner for four experiments at once, and for the next four only when
# every experiment of the last batch has ended, so each batch is chosen with
# all earlier results in. The default (refill) fills a finished experiment's
# place at once, with the others in flight pending. Checked from the hub's
# timestamps and the planner's provenance; the same check on a refill run
# must find an experiment proposed while its batch's predecessors ran.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
N=20

# a bad value is a config error naming the key, nothing runs
write_campaign "$T" "$PORT" "$N" 4
sed -i 's/^planner: {kind: sobol, batch: 4}/planner: {kind: gp, batch: 4, refill: sometimes}/' "$T/campaign.yaml"
"$LABLOOP" validate "$T/campaign.yaml" >/dev/null 2>"$T/bad.err" && fail "validate accepted refill: sometimes"
grep -q "campaign.yaml:[0-9]*:[0-9]*: .*refill" "$T/bad.err" || fail "unclear error for a bad refill: $(cat "$T/bad.err")"
pass "refill: sometimes is a config error at file:line:col: $(head -1 "$T/bad.err")"

# run_batches NAME REFILL: a gp campaign of N experiments in batches of 4
run_batches() {
  PORT=$(free_port)
  write_lab "$T" "$PORT" 3000
  "$LABLOOP" sim "$T/lab.yaml" >>"$T/sim.log" 2>&1 & PIDS+=($!)
  write_campaign "$T" "$PORT" "$N" 4
  sed -i "s/^planner: {kind: sobol, batch: 4}/planner: {kind: gp, batch: 4, refill: $2}/; s/^hub: campaign.db/hub: $1.db/" "$T/campaign.yaml"
  grep -q "refill: $2" "$T/campaign.yaml" || fail "test setup: campaign not rewritten"
  "$LABLOOP" run "$T/campaign.yaml" >"$T/$1.log" 2>&1 || fail "$1 campaign exited $?"
  DB="$T/$1.db"
  [ "$(q "select count(*) from experiments where status in ('measured','failed')")" = "$N" ] \
    || fail "$1: not every experiment ended: $(q "select seq, status from experiments")"
}
# experiments proposed before an experiment of an earlier batch of 4 ended
early() {
  q "select count(*) from experiments e where e.seq > 4 and exists (select 1 from experiments p
       where p.seq <= 4 * ((e.seq - 1) / 4) and p.finished_us > e.proposed_us)"
}

run_batches whole false
"$LABLOOP" validate "$T/campaign.yaml" >"$T/validate.txt" 2>&1 || fail "validate failed: $(cat "$T/validate.txt")"
grep -q "planner    gp, batch 4 (whole batches)" "$T/validate.txt" || fail "validate does not show whole batches: $(grep planner "$T/validate.txt")"
[ "$(early)" = 0 ] || fail "whole batches: $(early) experiments proposed before their predecessors ended"
# every batch went out together: proposed before any of its experiments ended
late=$(q "select count(*) from experiments e where exists (select 1 from experiments p
            where (p.seq - 1) / 4 = (e.seq - 1) / 4 and p.finished_us < e.proposed_us)")
[ "$late" = 0 ] || fail "whole batches: $late experiments proposed after one of their own batch ended"
# the model's batches: the planner was asked for four points at once
pos=$(q "select group_concat(substr(m, instr(m, ' p_ok=') + 17, 3), ' ') from (select json_extract(provenance, '$.model') m
           from experiments where json_extract(provenance, '$.model') like 'gp %' order by seq)")
[ -n "$pos" ] || fail "whole batches: no experiment was chosen by the model: $(q "select seq, provenance from experiments")"
case " $pos " in *" 1/4 2/4 3/4 4/4 "*) ;; *) fail "whole batches: the model's points are not batches of 4: $pos" ;; esac
pass "whole batches: $N experiments, each batch of 4 proposed together after the last ended (model positions: $pos)"

run_batches refill true
n_early=$(early)
[ "$n_early" -ge 1 ] || fail "refill: no experiment was proposed while an earlier batch ran (the check above could not fail)"
pos=$(q "select group_concat(distinct substr(m, instr(m, ' p_ok=') + 17, 3)) from (select json_extract(provenance, '$.model') m
           from experiments where seq > 4 and json_extract(provenance, '$.model') like 'gp %')")
pass "refill (the default): $n_early experiments proposed while an earlier one ran; model positions: $pos"
