# A step that returns values, but not the one an objective is taken from:
# the experiment fails with a message that lists what the step did return
# (a misspelt `from`, or an instrument whose output changed, shows at once).
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
cat >"$T/measure.sh" <<'SH'
#!/bin/sh
echo '{"absorbance_max": 0.42, "peak_nm": 512, "note": "ok"}'
SH
chmod +x "$T/measure.sh"
write_uvvis_campaign fv "retries: 0"
DB="$T/campaign.db"
"$LABLOOP" worker --config "$T/uvvis.yaml" >"$T/worker.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
err=$(q "select error from experiments where seq = 1")
echo "error: $err"
[ "$(q "select status from experiments where seq = 1")" = failed ] || fail "the experiment did not fail"
grep -q "step 'measure' returned no numeric 'absorbance' for objective 'a'; it returned absorbance_max=0.42, peak_nm=512, note (text)" <<<"$err" \
  || fail "the failure does not list the returned values: $err"
pass "a missing objective value fails the experiment and lists the values the step returned"
