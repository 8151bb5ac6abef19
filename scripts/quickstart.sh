#!/usr/bin/env bash
# Quickstart, as root on a fresh Debian 12 machine, no container registry
# needed: install the build and test dependencies, build onggi, make a
# bundle whose root filesystem holds only a static busybox, and run it with
# onggi-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart.sh: run as root" >&2; exit 1; }
scripts/install-deps.sh >/dev/null
cargo build --release
rt=target/release/onggi-runtime
work=$(mktemp -d /tmp/onggi-quickstart.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh ls cat id hostname; do ln -s busybox "$work/rootfs/bin/$a"; done
(cd "$work" && "$OLDPWD/$rt" spec)
jq '.process.terminal = false | .process.args = ["sh", "-c", "echo hello from $(hostname): uid $(id -u), pid $$; ls /"]' \
	"$work/config.json" >"$work/config.json.new" && mv "$work/config.json.new" "$work/config.json"
"$rt" --root "$work/state" run --bundle "$work" "quickstart-$$"
