# `labloop bench planner --refill` (what the orchestrator does with
# planner.batch: B, B experiments in flight, one refilled per result):
# with --batch 1 it is exactly the synchronous run (same regret, same best,
# seed by seed); with --batch 4 the planner is asked for 4 points once and
# then for one point per finished experiment (1 + budget - 4 asks), against
# budget / 4 asks for synchronous batches. A bad option is a usage error.
source "$(dirname "$0")/lib.sh"

run() { "$LABLOOP" bench planner --func branin --budget 16 --seeds 2 --json "$@" 2>"$T/err" \
          || fail "bench planner $*: $(cat "$T/err")"; }
field() { python3 -c 'import json,sys
k=sys.argv[1]
print(" ".join(str(json.loads(l)[k]) for l in sys.stdin if l.startswith("{")))' "$1"; }

run --batch 1 >"$T/sync1"
run --batch 1 --refill >"$T/refill1"
[ "$(wc -l <"$T/sync1")" = 2 ] || fail "not one line per seed: $(cat "$T/sync1")"
for k in regret best n_model; do
  a=$(field $k <"$T/sync1"); b=$(field $k <"$T/refill1")
  [ "$a" = "$b" ] || fail "--refill --batch 1 changed $k: $a against $b (seeds 0 1)"
done
[ "$(field refill <"$T/sync1")" = "False False" ] || fail "sync run not marked refill false: $(cat "$T/sync1")"
[ "$(field refill <"$T/refill1")" = "True True" ] || fail "refill run not marked: $(cat "$T/refill1")"
pass "--refill with --batch 1 gives the synchronous run's regret, seed by seed"

run --batch 4 >"$T/sync4"
run --batch 4 --refill >"$T/refill4"
[ "$(field asks <"$T/sync4")" = "4 4" ] || fail "synchronous batches of 4 over 16: asks $(field asks <"$T/sync4"), not 4"
[ "$(field asks <"$T/refill4")" = "13 13" ] \
  || fail "refill with 4 in flight over 16: asks $(field asks <"$T/refill4"), not 1 + 12"
[ "$(field batch <"$T/refill4")" = "4 4" ] || fail "batch not reported: $(cat "$T/refill4")"
python3 - "$T/refill4" <<'PY' || fail "refill run's regrets are not finite: $(cat "$T/refill4")"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2 and all(math.isfinite(r["regret"]) and r["regret"] >= 0 for r in rows)
PY
pass "--refill with --batch 4 asks 4 points, then one per finished experiment"

"$LABLOOP" bench planner --func branin --budget 16 --seeds 2 --refill --batch >"$T/o" 2>"$T/e" && fail "--batch without a value was accepted"
[ $? = 2 ] || fail "--batch without a value: exit code not 2"
grep -q -- "--batch needs a value" "$T/e" || fail "unclear error on a bad option: $(cat "$T/e")"
"$LABLOOP" bench planner --help | grep -q -- "--refill" || fail "--help does not name --refill"
pass "bench planner says what is missing from an option, and --help names --refill"

# --trace: one stderr line per experiment, stdout unchanged; the smallest
# traced regret of each seed is the seed's reported regret
"$LABLOOP" bench planner --func branin_c --budget 16 --seeds 2 --json --batch 4 --trace \
  >"$T/tr.out" 2>"$T/tr.err" || fail "--trace run failed: $(cat "$T/tr.err")"
"$LABLOOP" bench planner --func branin_c --budget 16 --seeds 2 --json --batch 4 >"$T/notr.out" \
  || fail "bench planner without --trace failed"
python3 - "$T/tr.out" "$T/notr.out" <<'PY' || fail "--trace changed stdout: $(diff "$T/tr.out" "$T/notr.out")"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:])
for r in a + b:
    del r["ask_ms_median"]          # timing, not the run
assert a == b
PY
python3 - "$T/tr.out" "$T/tr.err" <<'PY' || fail "trace lines do not match the runs: $(head -20 "$T/tr.err")"
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lines = [l for l in open(sys.argv[2]) if l.startswith("trace ")]
assert len(lines) == 32, len(lines)
for r in rows:
    mine = [l for l in lines if l.startswith("trace seed %d " % r["seed"])]
    assert [int(l.split()[4]) for l in mine] == list(range(16)), mine
    regrets = [float(re.search(r" regret (\S+)", l).group(1)) for l in mine if " regret " in l]
    assert abs(min(regrets) - r["regret"]) <= 1e-3 * max(1e-9, r["regret"]), (min(regrets), r)
    assert sum(" failed [" in l for l in mine) + len(regrets) == 16, mine
    assert all(re.search(r"\[(initial|planner)\] \S", l) for l in mine), mine
PY
pass "--trace prints one line per experiment with its regret and the planner's reason, stdout unchanged"

# --noise: the planner is told noisy values, the regret counts true ones
run40() { "$LABLOOP" bench planner --func branin --budget 40 --seeds 2 --json "$@" 2>"$T/err" \
            || fail "bench planner $*: $(cat "$T/err")"; }
run40 --noise 0 >"$T/n0"
run40 >"$T/plain"
[ "$(field regret <"$T/n0")" = "$(field regret <"$T/plain")" ] || fail "--noise 0 changed the run"
run40 --noise 2 >"$T/n2"
[ "$(field noise <"$T/n2")" = "2 2" ] || fail "noise not reported: $(cat "$T/n2")"
[ "$(field regret <"$T/n2")" != "$(field regret <"$T/plain")" ] || fail "--noise 2 left the runs unchanged"
"$LABLOOP" bench planner --func branin --budget 40 --seeds 2 --json --noise 2 --trace \
  >/dev/null 2>"$T/n2.trace" || fail "--noise --trace failed: $(tail -3 "$T/n2.trace")"
python3 - "$T/n2" "$T/n2.trace" <<'PY' || fail "noisy runs' regrets are not true regrets: $(cat "$T/n2")"
import json, math, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
# true values: never below the optimum, and best - optimum is the regret
assert len(rows) == 2 and all(math.isfinite(r["regret"]) and r["regret"] >= 0 for r in rows)
assert all(abs(r["best"] - 0.397887357729738 - r["regret"]) < 1e-6 for r in rows)
# the trace's true regrets give the reported regret; what was told differs
lines = [l for l in open(sys.argv[2]) if l.startswith("trace ")]
for r in rows:
    mine = [l for l in lines if l.startswith("trace seed %d " % r["seed"])]
    true = [float(re.search(r" regret (\S+)", l).group(1)) for l in mine]
    told = [float(re.search(r" told (\S+)", l).group(1)) for l in mine]
    assert len(true) == len(told) == 40, (len(true), len(told))
    assert abs(min(true) - r["regret"]) <= 1e-3 * r["regret"], (min(true), r)
    diffs = [abs(t - 0.397887357729738 - v) for t, v in zip(told, true)]
    assert max(diffs) > 0.5 and 0.5 < sum(diffs) / len(diffs) < 4, diffs
PY
for bad in -1 x nan inf ""; do
  "$LABLOOP" bench planner --func branin --budget 16 --seeds 1 --noise "$bad" >"$T/o" 2>"$T/e" \
    && fail "--noise '$bad' was accepted"
  grep -q -- "--noise needs a standard deviation" "$T/e" || fail "unclear error for --noise '$bad': $(cat "$T/e")"
done
"$LABLOOP" bench planner --func branin --budget 16 --seeds 1 --noise >"$T/o" 2>"$T/e" \
  && fail "--noise without a value was accepted"
grep -q -- "--noise needs a value" "$T/e" || fail "unclear error for --noise without a value: $(cat "$T/e")"
"$LABLOOP" bench planner --func branin --budget 16 --seeds 1 --json --noise -0 >"$T/nm0" \
  || fail "--noise -0 refused"
[ "$(field noise <"$T/nm0")" = 0 ] || fail "--noise -0 not reported as 0: $(cat "$T/nm0")"
pass "--noise tells the planner noisy values, reports true regrets, rejects a bad sd"

# --timing names the kind of each refit ("warm fit@100", "cold fit@1000");
# with --repeat R each figure is the median of R runs, with the refit's range
"$LABLOOP" bench planner --timing --repeat 2 --json >"$T/timing" 2>"$T/e" \
  || fail "--timing failed: $(cat "$T/e")"
python3 - "$T/timing" <<'PY' || fail "--timing lines lack the refit kind or range: $(cat "$T/timing")"
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["n"] for r in rows] == [100, 300, 1000], rows
assert all(re.fullmatch(r"(warm|cold) fit@%d(, log warp)?" % r["n"], r["refit"]) for r in rows), rows
assert all(r["repeats"] == 2 for r in rows), rows
assert all(0 < r["refit_ms_min"] <= r["refit_ms"] <= r["refit_ms_max"] for r in rows), rows
PY
for bad in "0" "101" "x"; do
  "$LABLOOP" bench planner --timing --repeat "$bad" >/dev/null 2>"$T/e" \
    && fail "--repeat $bad accepted"
  grep -q -- "--repeat" "$T/e" || fail "--repeat $bad: unclear error: $(cat "$T/e")"
done
"$LABLOOP" bench planner --func branin --budget 3 --seeds 1 --repeat 2 >/dev/null 2>"$T/e" \
  && fail "--repeat without --timing accepted"
grep -q "is for --timing" "$T/e" || fail "--repeat without --timing: unclear error: $(cat "$T/e")"
pass "--timing names the kind of each refit, --repeat gives medians and ranges"

# the peers take --noise the same way: told noisy values, true regrets
PEERS_PY="$(dirname "$0")/../planner_peers/peers.py"
/usr/bin/python3 "$PEERS_PY" --labloop "$LABLOOP" --func branin --budget 20 --seeds 2 --peer random \
  --noise 2 >"$T/pr" 2>"$T/e" || fail "peers.py --noise failed: $(cat "$T/e")"
/usr/bin/python3 "$PEERS_PY" --labloop "$LABLOOP" --func branin_c --budget 14 --seeds 1 --peer tpe \
  --noise 2 >"$T/pt" 2>"$T/e" || fail "peers.py tpe --noise on a constrained function failed: $(cat "$T/e")"
python3 - "$T/pr" "$T/pt" <<'PY' || fail "peers' noisy rows wrong: $(cat "$T/pr" "$T/pt")"
import json, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.startswith("{")]
assert len(rows) == 3 and all(r["noise"] == 2 for r in rows), rows
assert all(r["regret"] >= 0 and abs(r["best"] - 0.397887357729738 - r["regret"]) < 1e-9 for r in rows)
PY
/usr/bin/python3 "$PEERS_PY" --labloop "$LABLOOP" --func branin --budget 5 --seeds 1 --peer random \
  --noise -1 >"$T/o" 2>"$T/e" && fail "peers.py --noise -1 accepted"
grep -q -- "--noise needs a standard deviation" "$T/e" || fail "peers.py: unclear --noise error: $(cat "$T/e")"
pass "peers.py --noise: noisy values told, true regrets reported, a bad sd refused"
