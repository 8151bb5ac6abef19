#!/usr/bin/env bash
# onggi's test suite, as root: unit and integration tests on this host
# (cgroup v1 hybrid here), podman/containerd/Docker driving onggi-runtime,
# then the runtime's and the cgroups crate's cgroup tests again inside a
# throw-away cgroup v2 VM (../shared/vm/cgv2-run.sh), one boot for all.
# The last line sums every test: "onggi: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the tests run real containers)" >&2; exit 1; }
log=$(mktemp /tmp/onggi-test.XXXXXX)
trap 'rm -f "$log"' EXIT
cargo build --workspace --all-targets
# Every stage runs even when an earlier one fails; the exit status says
# whether all passed.
status=0
# Every test binary runs even when one fails.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=1
echo "== podman, containerd and Docker driving onggi-runtime"
scripts/test-clients.sh 2>&1 | tee -a "$log" || status=1
if [ -x ../shared/vm/cgv2-run.sh ] && command -v qemu-system-x86_64 >/dev/null; then
	echo "== cgroup v2: the runtime's and the cgroups crate's tests in a VM"
	scripts/test-v2-vm.sh 2>&1 | tee -a "$log" || status=1
else
	echo "test.sh: no ../shared/vm/cgv2-run.sh or qemu-system-x86_64: cgroup v2 VM tests skipped" >&2
fi
awk '/^test result:/ {p += $4; f += $6} /^clients: [0-9]+ passed/ {p += $2; f += $4}
     END {printf "onggi: %d passed, %d failed\n", p, f}' "$log"
exit $status
