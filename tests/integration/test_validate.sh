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
