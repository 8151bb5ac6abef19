#!/usr/bin/env bash
# Run the cgroup-sensitive tests under a pure cgroup v2 hierarchy: build the
# runtime's integration test binaries (and the cgroups crate's tests) on
# this host, then run them all as root inside ONE boot of the throw-away VM
# of ../shared/vm/cgv2-run.sh (the project dir is shared read-write, so the
# binaries and onggi-runtime run from target/ unchanged).
#
# Usage: scripts/test-v2-vm.sh [TEST-BINARY-ARGS...]   (e.g. a name filter)
# Environment: RUNTIME_TESTS (space separated integration test names),
# CGROUPS_TESTS=0 to skip the cgroups crate, CGV2_* as for cgv2-run.sh.
# On hosts whose qemu comes from bookworm-backports there is no virtiofsd,
# so this defaults to the full Debian kernel and a 9p share.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
tests=${RUNTIME_TESTS:-runtime_cgroups runtime_pause_update runtime_events_ps runtime_lifecycle runtime_run_kill runtime_commands runtime_exec runtime_exec_program runtime_tty}
targs=()
for t in $tests; do targs+=(--test "$t"); done

# Test binaries only (in deps/; the bins built on the way have an
# "executable" too).
executables() { sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep /deps/ || true; }
build() {
	# The JSON messages go to the filter; cargo's own errors stay visible.
	cargo test --no-run --message-format=json "$@" | executables
}
mapfile -t bins < <(build -p onggi "${targs[@]}")
[ ${#bins[@]} -gt 0 ] || { echo "test-v2-vm.sh: no runtime test binaries built" >&2; exit 1; }
if [ "${CGROUPS_TESTS:-1}" != 0 ]; then
	mapfile -t -O ${#bins[@]} bins < <(build -p onggi-cgroups)
fi

# In the VM: each binary in turn, a summary line per binary at the end.
script='
rc=0; summary=()
for b in "$@"; do
	[ -x "$b" ] || continue
	case $b in */onggi_cgroups-*|*/v1-*|*/v2-*) threads=1 ;; *) threads=2 ;; esac
	echo "== $(basename "$b")"
	start=$(date +%s.%N)
	if "$b" --test-threads=$threads $TEST_ARGS; then s=ok; else s=FAILED; rc=1; fi
	summary+=("$(printf "%-8s %6.1fs  %s" "$s" "$(echo "$(date +%s.%N) - $start" | bc)" "$(basename "$b")")")
done
echo "== summary (cgroup v2: $(stat -fc %T /sys/fs/cgroup))"
printf "%s\n" "${summary[@]}"
exit $rc'
# ../shared beside the project; from a git worktree elsewhere, beside the
# main checkout.
run=${CGV2_RUN:-$root/../shared/vm/cgv2-run.sh}
if [ -z "${CGV2_RUN:-}" ] && [ ! -x "$run" ]; then
	run=$(cd "$(git rev-parse --git-common-dir)/../.." && pwd)/shared/vm/cgv2-run.sh
fi
[ -x "$run" ] || { echo "test-v2-vm.sh: no cgv2-run.sh (set CGV2_RUN)" >&2; exit 1; }
CGV2_KERNEL_PKG=${CGV2_KERNEL_PKG:-linux-image-amd64} CGV2_FS=${CGV2_FS:-9p} CGV2_QUIET=${CGV2_QUIET:-1} \
	"$run" -e "TEST_ARGS=$*" -e RUST_BACKTRACE=0 "$root" -- bash -c "$script" vm "${bins[@]}"
