#!/usr/bin/env bash
# Build this crate's test binaries and run them as root inside the throw-away
# cgroup v2 VM (../shared/vm/cgv2-run.sh beside the project), one boot for all of them.
# On hosts whose qemu comes from bookworm-backports there is no virtiofsd, so
# this defaults to the full Debian kernel and a 9p share.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
mapfile -t bins < <(cargo test -p onggi-cgroups --no-run --message-format=json 2>/dev/null |
	sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep -v /examples/)
[ ${#bins[@]} -gt 0 ] || { echo "no test binaries built" >&2; exit 1; }
script='rc=0; for b in "$@"; do echo "== $b"; "$b" --test-threads=1 || rc=1; done; exit $rc'
CGV2_KERNEL_PKG=${CGV2_KERNEL_PKG:-linux-image-amd64} CGV2_FS=${CGV2_FS:-9p} CGV2_QUIET=1 \
	"${CGV2_RUN:-$root/../shared/vm/cgv2-run.sh}" "$root" -- bash -c "$script" vm "${bins[@]}"
