#!/usr/bin/env bash
# containerd (ctr) driving onggi-runtime: a private containerd (own config,
# root, state, socket; CRI off) in a private network namespace, the runc v2
# shim told to use onggi-runtime (ctr run --runc-binary). Some results are
# compared with runc through the same shim.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_enter_ns "$@"
lib_init containerd

C=$WORK/containerd
mkdir -p "$C"/{root,state,opt}
SOCK=$C/containerd.sock
cat >"$C/config.toml" <<CONF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$C/debug.sock"
  level = "debug"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
CONF

containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
CTRD_PID=$!
on_exit "kill $CTRD_PID; sleep 0.5; kill -9 $CTRD_PID"
NS=onggi-clients
# (timeout -k: ctr run/exec forward TERM to the task instead of dying)
cr() { timeout -k ${CR_KILL:-5} ${CR_TIMEOUT:-60} ctr --address "$SOCK" --namespace $NS "$@"; }
for i in $(seq 100); do cr version >/dev/null 2>&1 && break; sleep 0.1; done
cr version >/dev/null || { cat "$C/containerd.log" >&2; die "containerd did not come up"; }
on_exit 'for c in $(cr c ls -q); do cr t kill -s KILL $c; cr t rm -f $c; cr c rm $c; done'

IMG=localhost/onggi-busybox:latest
RUNTIME=(--runtime io.containerd.runc.v2)

# crun RUNTIMEPATH ID ARGS...: ctr run with the given runc-compatible binary,
# the container cgroup below our cgroup parent
crun_() {
	local rt=$1 id=$2
	shift 2
	cr run "${RUNTIME[@]}" --runc-binary "$rt" --cgroup "$CG_PARENT/$id" "$@"
}
oc() { crun_ "$ONGGI" "$@"; }

# The runtime log (--log json lines) and the shim's bundle dir of a task.
bundle() { echo "$C/state/io.containerd.runtime.v2.task/$NS/$1"; }
runtime_log() { cat "$(bundle "$1")/log.json" 2>/dev/null; }

task_status() { cr t ls | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { cr t ls | awk -v id="$1" '$1 == id { print $2 }'; }
cleanup_ctr() {
	local i
	cr t kill -s KILL "$1" 2>/dev/null || true
	for i in $(seq 20); do [ "$(task_status "$1")" = STOPPED ] && break; sleep 0.1; done
	cr t rm -f "$1" || true
	cr c rm "$1" || true
}

# ctr -t wants a terminal on its stdin: give it one (script from util-linux)
with_pty() { timeout -k 5 60 script -qec "$(printf '%q ' "$@")" /dev/null </dev/null | tr -d '\r\0'; }

# An OCI image layout with the busybox rootfs as one layer (umoci), tarred:
# an OCI archive for ctr image import.
test_import() {
	local lay=$WORK/oci b=$WORK/bundle
	umoci init --layout "$lay"
	umoci new --image "$lay:latest"
	umoci unpack --rootless --image "$lay:latest" "$b" >/dev/null 2>&1 || umoci unpack --image "$lay:latest" "$b"
	make_rootfs "$b/rootfs"
	umoci repack --image "$lay:latest" "$b"
	umoci config --image "$lay:latest" --config.cmd /bin/sh --config.env PATH=/bin:/usr/bin:/sbin
	rm -rf "$b"
	tar -C "$lay" -cf "$WORK/oci.tar" .
	cr images import --base-name localhost/onggi-busybox "$WORK/oci.tar"
	cr images ls
	cr images ls -q | grep -qx "$IMG" || die "image $IMG not imported"
}

test_run_output() {
	local out rc
	out=$(oc run1 --rm "$IMG" run1 echo hello from onggi)
	expect_eq "stdout" "$out" "hello from onggi"
	out=$(oc run2 --rm "$IMG" run2 sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
	expect_eq "stderr" "$out" "to-stderr"
	set +e
	oc run3 --rm "$IMG" run3 sh -c 'exit 3'
	rc=$?
	set -e
	expect_eq "exit code" "$rc" 3
	out=$(oc run4 --rm --env FOO=bar --cwd /tmp "$IMG" run4 sh -c 'echo $FOO $(pwd) $(id -u)')
	expect_eq "env/cwd/uid" "$out" "bar /tmp 0"
	out=$(with_pty ctr --address "$SOCK" --namespace $NS run "${RUNTIME[@]}" --runc-binary "$ONGGI" --cgroup "$CG_PARENT/run5" --rm -t "$IMG" run5 tty)
	expect_match "tty" "$out" "/dev/pts/[0-9]+"
}

test_detached_lifecycle() {
	local c=lc pid out
	oc $c -d --log-uri "file://$WORK/lc.log" "$IMG" $c sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.2; done'
	retry 25 grep -q started "$WORK/lc.log" || die "log: no 'started' in $WORK/lc.log"
	expect_eq "status" "$(task_status $c)" RUNNING
	pid=$(task_pid $c)
	expect_match "cgroup" "$(cat /proc/$pid/cgroup)" "$CG_PARENT/$c"
	# (each exec lives a moment: the test of quick exits is exec-fast-exit)
	out=$(cr t exec --exec-id e1 $c sh -c 'echo exec-ok; sleep 0.2')
	expect_eq "exec" "$out" exec-ok
	out=$(cr t exec --exec-id e2 --cwd /tmp --user 65534 $c sh -c 'echo $(pwd) $(id -u); sleep 0.2')
	expect_eq "exec cwd/user" "$out" "/tmp 65534"
	set +e
	cr t exec --exec-id e3 $c sh -c 'sleep 0.2; exit 7'
	local rc=$?
	set -e
	expect_eq "exec exit code" "$rc" 7
	out=$(with_pty ctr --address "$SOCK" --namespace $NS t exec -t --exec-id e4 $c sh -c 'tty; sleep 0.2')
	expect_match "exec -t" "$out" "/dev/pts/[0-9]+"
	# task ps: the shim asks the runtime (onggi-runtime ps --format json)
	cr t exec --exec-id e5 -d $c sleep 100 || true
	out=$(cr t ps $c)
	echo "$out"
	expect_eq "ps lists init" "$(echo "$out" | awk -v p="$pid" '$1 == p' | wc -l)" 1
	[ "$(echo "$out" | tail -n +2 | wc -l)" -ge 2 ] || die "ps: want init and the exec'd sleep"
	# (the shim reads the cgroup; under load its first answer can lag)
	local i
	for i in $(seq 10); do
		cr t metrics $c >"$WORK/metrics" 2>&1 && grep -qi memory "$WORK/metrics" && break
		sleep 0.3
	done
	cat "$WORK/metrics"
	grep -qi memory "$WORK/metrics" || die "metrics: no memory"
	# SIGTERM reaches the trap; the task exits 0
	cr t kill -s SIGTERM $c
	for i in $(seq 50); do [ "$(task_status $c)" = STOPPED ] && break; sleep 0.1; done
	expect_eq "status after TERM" "$(task_status $c)" STOPPED
	grep -q got-term "$WORK/lc.log" || die "log: no got-term"
	cr t rm $c
	cr c rm $c
	! cr c ls -q | grep -qx $c || die "container still listed"
}

# exec of a process that exits at once, 20 times (stop at 3 hangs): ctr
# waits for each exit, which the shim (a subreaper) must get.
exec_fast_case() {
	local rt=$1 c=fx-$2 i n=0 hung=0 out
	crun_ "$rt" $c -d "$IMG" $c sleep 1000
	for i in $(seq 20); do
		if ! out=$(CR_TIMEOUT=3 CR_KILL=2 cr t exec --exec-id x$i $c echo fast-$i); then
			echo "exec x$i: no exit after 3 s (output '$out')"
			hung=$((hung + 1))
		fi
		n=$i
		[ $hung -lt 3 ] || break
	done
	cleanup_ctr $c
	[ $hung = 0 ] || die "$hung of $n quick execs never returned"
}
test_exec_fast_exit() { exec_fast_case "$ONGGI" onggi; }

# ctr task rm -f of a task that has exited: the shim sends kill --all
# SIGKILL and must take the runtime's answer as "already finished"
rm_force_case() {
	local rt=$1 c=rmf-$2
	crun_ "$rt" $c -d "$IMG" $c true
	for i in $(seq 50); do [ "$(task_status $c)" = STOPPED ] && break; sleep 0.1; done
	expect_eq "status" "$(task_status $c)" STOPPED
	cr t rm -f $c || { cleanup_ctr $c; die "ctr task rm -f of a stopped task failed"; }
	cr c rm $c
}
test_rm_force_stopped() { rm_force_case "$ONGGI" onggi; }

test_kill_wait() {
	local c=kw
	oc $c -d "$IMG" $c sleep 1000
	cr t kill -s SIGKILL $c
	for i in $(seq 50); do [ "$(task_status $c)" = STOPPED ] && break; sleep 0.1; done
	expect_eq "status" "$(task_status $c)" STOPPED
	# ctr t rm prints the exit status
	expect_match "exit status" "$(cr t rm $c 2>&1)" "137"
	cr c rm $c
}

test_pause_resume() {
	local c=pr pid n1 n2
	oc $c -d "$IMG" $c sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done'
	sleep 0.3
	pid=$(task_pid $c)
	cr t pause $c
	expect_eq "status" "$(task_status $c)" PAUSED
	expect_eq "freezer.state" "$(cat "$(cg_of_pid "$pid" freezer)/freezer.state")" FROZEN
	n1=$(cat /proc/$pid/root/tmp/n); sleep 0.5; n2=$(cat /proc/$pid/root/tmp/n)
	expect_eq "counter while paused" "$n2" "$n1"
	cr t resume $c
	expect_eq "status" "$(task_status $c)" RUNNING
	sleep 0.5
	n2=$(cat /proc/$pid/root/tmp/n)
	[ "$n2" -gt "$n1" ] || die "counter did not move after resume"
	cleanup_ctr $c
}

# oom RUNTIME NAME: 16 MiB, allocating 64: exit 137 and a /tasks/oom event
oom_case() {
	local rt=$1 c=oom-$2 rc
	cr events >"$WORK/events-$2" 2>&1 &
	local ev=$!
	sleep 0.3
	set +e
	# The shim watches for OOM (memory.oom_control) only once the task has
	# started: allocate after a moment, or a loaded machine can OOM before
	# the watch exists (for runc as well).
	crun_ "$rt" $c --rm --memory-limit 16777216 "$IMG" $c sh -c 'sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1'
	rc=$?
	set -e
	local i
	for i in $(seq 25); do grep -q "/tasks/oom" "$WORK/events-$2" && break; sleep 0.2; done
	kill $ev
	grep -E "/tasks/(oom|exit)" "$WORK/events-$2" || true
	echo "rc=$rc"
	expect_eq "exit code" "$rc" 137
	grep -q "/tasks/oom" "$WORK/events-$2" || die "no /tasks/oom event"
}
test_oom() { oom_case "$ONGGI" onggi; }

# ctr 1.6 has neither a pids flag nor task update: run a whole spec
# (ctr run --config) made by onggi-runtime spec, with pids and memory limits
test_pids_limit_spec() {
	local c=pids pid cg out
	mkdir -p "$WORK/pids/rootfs"
	make_rootfs "$WORK/pids/rootfs"
	(cd "$WORK/pids" && "$ONGGI" spec)
	jq --arg root "$WORK/pids/rootfs" --arg cg "$CG_PARENT/$c" '
		.root = {path: $root, readonly: false} | .process.terminal = false |
		.process.args = ["sleep", "1000"] | .linux.cgroupsPath = $cg |
		.linux.resources.pids = {limit: 10} | .linux.resources.memory = {limit: 33554432}' \
		"$WORK/pids/config.json" >"$WORK/pids/spec.json"
	cr run -d "${RUNTIME[@]}" --runc-binary "$ONGGI" --config "$WORK/pids/spec.json" $c
	pid=$(task_pid $c)
	cg=$(cg_of_pid "$pid" pids)
	expect_eq "pids.max" "$(cat "$cg/pids.max")" 10
	expect_eq "memory.limit_in_bytes" "$(cat "$(cg_of_pid "$pid" memory)/memory.limit_in_bytes")" 33554432
	out=$(cr t exec --exec-id f $c sh -c 'for i in $(seq 20); do sleep 30 & done' 2>&1) || true
	echo "$out"
	expect_match "fork failure" "$out" "(fork|Resource temporarily unavailable)"
	local cur
	cur=$(cat "$cg/pids.current")
	echo "pids.current=$cur"
	[ "$cur" -ge 8 ] && [ "$cur" -le 10 ] || die "pids.current $cur with pids.max 10"
	cleanup_ctr $c
}

# no CNI: a new network namespace with lo only (the client's "none")
net_none_case() {
	local rt=$1 out
	out=$(crun_ "$rt" nn-$2 --rm "$IMG" nn-$2 sh -c 'ip -o link; ip -o -4 addr')
	echo "$out"
	expect_eq "interfaces" "$(echo "$out" | grep -E '^[0-9]+: [a-z0-9@]+:' | awk -F': ' '{print $2}' | tr '\n' ' ')" "lo "
	expect_match "lo up with 127.0.0.1" "$out" "lo +inet 127\.0\.0\.1"
}
test_network_none() { net_none_case "$ONGGI" onggi; }

# --cni: a bridge network from /etc/cni/net.d with Debian's plugins bound
# at /opt/cni/bin (both private to our mount namespace)
setup_cni() {
	[ -f "$WORK/cni-ready" ] && return 0
	shadow_dir /opt/cni/bin
	mount --bind /usr/lib/cni /opt/cni/bin
	cat >/etc/cni/net.d/10-onggi.conflist <<CONF
{ "cniVersion": "0.4.0", "name": "onggi-clients",
  "plugins": [ { "type": "bridge", "bridge": "onggi0", "isGateway": true, "ipMasq": false,
    "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.89.0.0/24" }]],
              "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "loopback" } ] }
CONF
	touch "$WORK/cni-ready"
}
net_cni_case() {
	local rt=$1 out
	out=$(crun_ "$rt" nc-$2 --rm --cni "$IMG" nc-$2 sh -c 'ip -o -4 addr; ip route; ping -c1 -W2 10.89.0.1 >/dev/null && echo gw-reachable')
	echo "$out"
	expect_match "lo" "$out" "lo +inet 127\.0\.0\.1"
	expect_match "eth0" "$out" "eth0 +inet 10\.89\.0\."
	expect_match "gateway" "$out" "gw-reachable"
}
test_network_cni() {
	setup_cni
	net_cni_case "$ONGGI" onggi
}

test_runc_compare() {
	[ -x "$RUNC" ] || skip "no runc"
	# the same cases with runc first: they must pass
	oom_case "$RUNC" runc
	exec_fast_case "$RUNC" runc
	rm_force_case "$RUNC" runc
	net_none_case "$RUNC" runc
	setup_cni
	net_cni_case "$RUNC" runc
	local a b
	a=$(oc cmp-o --rm "$IMG" cmp-o sh -c "$ENV_PROBE")
	b=$(crun_ "$RUNC" cmp-r --rm "$IMG" cmp-r sh -c "$ENV_PROBE")
	compare_env "$b" "$a"
}

if [ -n "${CLIENTS_DEBUG:-}" ]; then source "$CLIENTS_DEBUG"; exit; fi

t import test_import
t run-output test_run_output
t detached-lifecycle test_detached_lifecycle
t exec-fast-exit test_exec_fast_exit
t kill test_kill_wait
t rm-force-stopped test_rm_force_stopped
t pause-resume test_pause_resume
t oom-kill test_oom
t pids-limit test_pids_limit_spec
t network-none test_network_none
t network-cni test_network_cni
t runc-compare test_runc_compare
lib_summary
