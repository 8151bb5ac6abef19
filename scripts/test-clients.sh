#!/usr/bin/env bash
# Client tests: podman, containerd (ctr) and Docker drive onggi-runtime, as
# root. Each client runs in a private mount + network namespace with private
# storage, state, sockets and daemons, and cleans up after itself
# (tests/clients/lib.sh). Installs nothing; needs these Debian packages:
#
#   podman conmon containernetworking-plugins containerd docker.io runc
#   busybox-static umoci jq iproute2 iptables util-linux bsdutils
#
# (docker.io's postinst starts the system's dockerd unless policy-rc.d
# denies it, as this machine's /usr/sbin/policy-rc.d does: the tests need
# none of the system's daemons and start their own.)
#
# usage: scripts/test-clients.sh [podman] [containerd] [docker]
#   ONLY=REGEX      run only the tests whose name matches
#   ONGGI_TRACE=1   log every runtime command line to the work dir
#   KEEP_WORK=1     keep the work dir of a client with failures
#   CLIENTS_SKIP_MISSING=1  skip a client that is not installed (else: fail)
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-clients.sh: run as root" >&2; exit 1; }

clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(podman containerd docker)

bin=target/x86_64-unknown-linux-gnu/release/onggi-runtime
if [ -z "${ONGGI_RUNTIME:-}" ]; then
	cargo build --release --bin onggi-runtime || exit 1
	export ONGGI_RUNTIME=$PWD/$bin
fi

declare -A need=([podman]="podman conmon" [containerd]="containerd ctr containerd-shim-runc-v2" [docker]="dockerd docker containerd")
pass=0 fail=0 skip=0 start=$(date +%s)
for c in "${clients[@]}"; do
	[ -f "tests/clients/$c.sh" ] || { echo "test-clients.sh: no client '$c'" >&2; exit 2; }
	missing=
	for b in ${need[$c]:-} unshare ip busybox; do command -v "$b" >/dev/null || missing+=" $b"; done
	if [ -n "$missing" ]; then
		if [ -n "${CLIENTS_SKIP_MISSING:-}" ]; then
			echo "skip $c: not installed:$missing" >&2
			skip=$((skip + 1))
		else
			echo "FAIL $c: not installed:$missing (see the header of $0)" >&2
			fail=$((fail + 1))
		fi
		continue
	fi
	res=$(mktemp)
	t0=$(date +%s)
	RESULT_FILE=$res timeout -k 10 300 bash "tests/clients/$c.sh"
	rc=$?
	if read -r p f s <"$res" && [ -n "$p" ]; then
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	else
		echo "FAIL $c: the client script died (rc $rc) before its summary" >&2
		fail=$((fail + 1))
	fi
	echo "($c took $(($(date +%s) - t0)) s)" >&2
	rm -f "$res"
done
echo "client tests took $(($(date +%s) - start)) s"
echo "clients: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
