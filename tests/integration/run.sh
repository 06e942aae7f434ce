#!/usr/bin/env bash
# Run integration tests: each is a bash script that starts real labloop
# processes on loopback. Prints one line per test and a closing count.
set -u
pass=0; fail=0; failed=()
limit=${TEST_TIMEOUT:-240}
for t in "$@"; do
  log=$(mktemp /tmp/labloop-it-log.XXXXXX)
  start=$(date +%s.%N)
  if timeout --kill-after=10 "$limit" bash "$t" >"$log" 2>&1; then
    pass=$((pass + 1))
    printf 'ok    %-45s %5.1f s\n' "$(basename "$t")" "$(echo "$(date +%s.%N) - $start" | bc)"
    grep -E '^figure: ' "$log" | sed 's/^/        /' || true     # measured figures, shown as they are
  else
    rc=$?
    fail=$((fail + 1)); failed+=("$t")
    printf 'FAIL  %-45s (exit %d%s)\n' "$(basename "$t")" "$rc" "$([ $rc -eq 124 ] && echo ', timed out')"
    sed 's/^/    | /' "$log" | tail -60
  fi
  rm -f "$log"
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
