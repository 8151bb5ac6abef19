#!/usr/bin/env bash
# Quickstart, as root on a fresh Debian 12 machine, no container registry
# needed: install the dependencies, build onggi, build a minimal image from
# host binaries (only /bin/ls and /bin/ps plus exactly the libraries they
# load) and run `ls /` in it with onggi-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart.sh: run as root" >&2; exit 1; }
scripts/install-deps.sh >/dev/null
cargo build --release
onggi=target/x86_64-unknown-linux-gnu/release/onggi
store=$(mktemp -d /tmp/onggi-quickstart.XXXXXX)
trap '"$onggi" --root "$store" rmi -f tools >/dev/null 2>&1; rm -rf "$store"' EXIT
"$onggi" --root "$store" build --from-host tools /bin/ls /bin/ps
"$onggi" --root "$store" images
echo "# ls / in the container:"
"$onggi" --root "$store" run tools /bin/ls /
