# `labloop bench echo` (the ceiling `make bench` sets dispatch against):
# bad arguments are usage errors that say what is allowed; a small real run
# (2 client processes, 1 row committed per round trip) answers every request
# and leaves no client process or temporary directory behind.
source "$(dirname "$0")/lib.sh"

for args in "--workers 0" "--rows 101" "--round-trips 1" "--frobnicate"; do
  "$LABLOOP" bench echo $args >"$T/bad.out" 2>"$T/bad.err" && fail "bench echo $args was accepted"
  [ $? = 2 ] || fail "bench echo $args: exit code $? (not 2, a usage error)"
  grep -q "usage: labloop bench echo\|--workers must be 1..256, --rows 0..100" "$T/bad.err" \
    || fail "bench echo $args: unclear error: $(cat "$T/bad.err")"
done
pass "bench echo refuses bad arguments with exit code 2 and says what is allowed"

echo_dirs() { find /tmp -maxdepth 1 -name 'labloop-echo-*' | wc -l; }
before=$(echo_dirs)
out=$("$LABLOOP" bench echo --workers 2 --round-trips 400 --rows 1 --json 2>"$T/echo.err") || fail "bench echo failed: $(cat "$T/echo.err")"
echo "$out"
echo "$out" | grep -q '^echo: 2 client processes, 1 request in flight each, 1 rows committed per round trip: [0-9]* round trips/s (400 in ' \
  || fail "no figure line: $out"
echo "$out" | tail -1 | grep -Eq '^\{"workers":2,"rows":1,"round_trips":400,"rt_per_s":[1-9][0-9]*\}$' || fail "no JSON line: $out"
[ "$(echo_dirs)" = "$before" ] || fail "bench echo left its temporary directory"
! pgrep -f "labloop bench echo --workers 2 --round-trips 400" >/dev/null || fail "a client process outlived bench echo"
pass "bench echo answers every round trip of its clients and cleans up"
