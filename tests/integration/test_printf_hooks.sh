# labloop refuses the printf handlers that libquadmath (loaded with LAPACK's
# Fortran runtime) registers as it loads: with a handler registered, glibc
# formats every printf-family call on its slow general path. The loader
# binds libquadmath's registration to labloop's own refusal, and formatting
# still works (ids, numbers in JSON, log lines).
source "$(dirname "$0")/lib.sh"

if ! ldd "$LABLOOP" | grep -q libquadmath; then
  pass "labloop does not load libquadmath here: nothing registers printf handlers"
  exit 0
fi
LD_DEBUG=bindings "$LABLOOP" --version >"$T/version.out" 2>"$T/bindings.err" || fail "labloop --version failed"
grep -q "binding file [^ ]*libquadmath[^ ]* \[0\] to [^ ]*labloop \[0\]: normal symbol \`register_printf_type'" "$T/bindings.err" \
  || fail "libquadmath's register_printf_type is not bound to labloop's refusal: $(grep register_printf "$T/bindings.err")"
grep -q "to [^ ]*libc.so[^ ]* \[0\]: normal symbol \`register_printf_" "$T/bindings.err" \
  && fail "a printf handler registration reached glibc: $(grep register_printf "$T/bindings.err")"
grep -q '^labloop [0-9]' "$T/version.out" || fail "labloop --version printed: $(cat "$T/version.out")"
pass "libquadmath's printf handler registration goes to labloop, which refuses it"
