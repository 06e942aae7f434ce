#!/usr/bin/env bash
# Install the Debian packages labloop needs to build, test and run its demo.
# Idempotent: installs only what is missing. As root it runs apt-get; as
# anyone else it prints the exact command and exits 1.
set -euo pipefail

PACKAGES=(
  gcc make pkg-config
  libzmq3-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler
  libgpiod-dev libsqlite3-dev sqlite3 libyaml-dev libjansson-dev
  libssl-dev libcmocka-dev
  python3-zmq python3-protobuf protobuf-compiler
  liblapacke-dev libopenblas-dev libnlopt-dev
  libmicrohttpd-dev chromium
  libcurl4-openssl-dev      # webhooks (notify: in a campaign config)
  libpq-dev postgresql-15   # the PostgreSQL hub; its tests start their own server
  clang libclang-rt-14-dev   # make fuzz: clang with libFuzzer and the sanitizer runtimes
  python3 curl bc procps   # used by the integration tests
  strace                   # slows fsync for the torture suite (tests/torture)
  python3-pandas python3-rdflib python3-yaml   # the Python reader (python/) and the export checks
  python3-sklearn python3-optuna   # the planner's peers (make bench-planner)
)

# The dashboard's browser test (tests/integration/test_dashboard.sh) drives
# chromium with npm's playwright-core: node and npm must be on the PATH.
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || echo "install-deps: warning: '$tool' not found; the browser test needs Node.js and npm" >&2
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

cmd="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root:  apt-get update && $cmd" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
echo "install-deps: done"
