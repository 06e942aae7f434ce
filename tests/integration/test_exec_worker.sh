# An instrument connected with the exec driver (`labloop worker --config`):
# its command reads the step's parameters, prints results as JSON and writes
# a spectrum file; the campaign completes, the results are the objectives,
# and every file is in the hub's artifacts with the hash of its bytes.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
write_lab "$T" "$PORT" 3000
sed -i '/name: pl-1/d' "$T/lab.yaml"
write_campaign "$T" "$PORT" 6 2
sed -i 's/  - {step: measure_pl, capability: pl_spectrometer, after: \[heat\], retries: 1}/  - {step: measure_pl, capability: pl_spectrometer, after: [heat], params: {temperature: "${temperature}"}, timeout: 20s}/' "$T/campaign.yaml"
grep -q 'measure_pl.*temperature' "$T/campaign.yaml" || fail "test setup: measure step not rewritten"
cat >"$T/measure.sh" <<'SH'
#!/bin/sh
# a stand-in for a vendor's measurement script
t=$LABLOOP_PARAM_TEMPERATURE
printf 'wavelength_nm,counts\n510,%s\n515,42\n# %s\n' "$t" "$LABLOOP_ATTEMPT" >"$LABLOOP_ARTIFACTS/spectrum.csv"
python3 -c 'import json,sys; p=json.load(sys.stdin); print(json.dumps({"quantum_yield": p["temperature"]/1000.0, "fwhm_nm": 21.5}))'
SH
chmod +x "$T/measure.sh"
cat >"$T/pl.yaml" <<YAML
name: pl-1
endpoint: tcp://127.0.0.1:$PORT
driver: exec
capabilities: [pl_spectrometer]
exec:
  artifacts: $T/artifacts
  commands:
    pl_spectrometer: [$T/measure.sh]
YAML
DB="$T/campaign.db"
"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & PIDS+=($!)
"$LABLOOP" worker --config "$T/pl.yaml" >"$T/pl.log" 2>&1 & PIDS+=($!)
"$LABLOOP" run "$T/campaign.yaml" >"$T/run.log" 2>&1 || fail "labloop run exited $?"
[ "$(q "select status from campaigns")" = completed ] || fail "campaign did not complete"
m=$(q "select count(*) from experiments where status='measured'")
[ "$m" -ge 1 ] || fail "nothing measured"
[ "$(q "select count(*) from experiments e where status='measured' and abs(json_extract(objectives,'$.plqy') - json_extract(params,'$.temperature')/1000.0) > 1e-9")" = 0 ] \
  || fail "objectives are not what the instrument's command printed"
pass "$m experiments measured through the exec driver; objectives equal the command's JSON"

n=$(q "select count(*) from artifacts a join steps s on s.attempt_id=a.attempt_id where s.step='measure_pl' and s.status='done'")
[ "$n" = "$(q "select count(*) from steps where step='measure_pl' and status='done'")" ] || fail "not every measurement's file is in the hub ($n)"
python3 - "$DB" <<'PY' || fail "an artifact's bytes do not match its hash, size or name"
import hashlib, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("select sha256, size, media_type, name, attempt_id, content from artifacts").fetchall()
assert rows, "no artifacts"
for sha, size, mt, name, attempt, content in rows:
    assert content is not None, (name, "no content")
    assert hashlib.sha256(content).hexdigest() == sha, (name, "hash")
    assert len(content) == size, (name, "size")
    assert name == "spectrum.csv" and mt == "text/csv", (name, mt)
    assert attempt.encode() in content, (name, "content is not this attempt's file")
print(f"{len(rows)} artifacts verified")
PY
pass "every spectrum is in the hub with the sha256 of its bytes"

# The RO-Crate carries every stored artifact, each described (sha256, size, type).
"$LABLOOP" export "$DB" --format ro-crate -o "$T/crate" 2>"$T/crate.log" || fail "RO-Crate export failed: $(cat "$T/crate.log")"
n=$(find "$T/crate/artifacts" -type f -name '*-spectrum.csv' | wc -l)
[ "$n" = "$(q 'select count(*) from artifacts where content is not null')" ] || fail "RO-Crate holds $n spectra, the hub $(q 'select count(*) from artifacts')"
/usr/bin/python3 "$(dirname "$0")/export_check.py" crate "$DB" "$T/crate" || fail "RO-Crate with artifacts fails its check"
pass "RO-Crate: every artifact is a described file of the crate"
