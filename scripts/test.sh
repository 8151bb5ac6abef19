#!/usr/bin/env bash
# onggi's test suite, as root: unit and integration tests on this host
# (cgroup v1 hybrid here), then the cgroup tests again inside a throw-away
# cgroup v2 VM (../shared/vm/cgv2-run.sh), one boot for all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the tests run real containers)" >&2; exit 1; }
cargo build --workspace --all-targets
# Every test binary runs even when one fails; the summary is at the end.
cargo test --workspace --no-fail-fast
echo "== podman, containerd and Docker driving onggi-runtime"
scripts/test-clients.sh
if [ -x ../shared/vm/cgv2-run.sh ] && command -v qemu-system-x86_64 >/dev/null; then
	echo "== cgroup v2: the runtime's and the cgroups crate's tests in a VM"
	scripts/test-v2-vm.sh
else
	echo "test.sh: no ../shared/vm/cgv2-run.sh or qemu-system-x86_64: cgroup v2 VM tests skipped" >&2
fi
