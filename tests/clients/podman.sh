#!/usr/bin/env bash
# podman driving onggi-runtime: private storage (--root/--runroot), a private
# containers.conf (CONTAINERS_CONF), cgroupfs, file events, CNI networks in
# a private network namespace. Some results are compared with runc.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_enter_ns "$@"
lib_init podman

command -v podman >/dev/null || { say "skip: podman not installed"; echo "0 0 1" >"${RESULT_FILE:-/dev/null}"; exit 0; }

P=$WORK/podman
mkdir -p "$P"/{root,runroot,tmp,cni,vol}
cat >"$P/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[network]
network_backend = "cni"
network_config_dir = "$P/cni"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
volume_path = "$P/vol"
runtime = "onggi"
runtime_supports_json = ["onggi", "onggi-runtime", "runc", "crun"]
[engine.runtimes]
onggi = ["$ONGGI"]
runc = ["$RUNC"]
CONF
: >"$P/registries.conf"
cat >"$P/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$P/root"
runroot = "$P/runroot"
CONF
export CONTAINERS_CONF=$P/containers.conf
export CONTAINERS_REGISTRIES_CONF=$P/registries.conf
export CONTAINERS_STORAGE_CONF=$P/storage.conf

# pm RUNTIME ARGS...: podman with everything private; RUNTIME is a path
pm() {
	local rt=$1
	shift
	timeout 120 podman --root "$P/root" --runroot "$P/runroot" --cgroup-manager cgroupfs \
		--events-backend file --runtime "$rt" "$@"
}
po() { pm "$ONGGI" "$@"; }
IMG=localhost/onggi-busybox:latest
CGP=(--cgroup-parent "$CG_PARENT")

on_exit 'po rm -af -t 0'
on_exit 'po system reset -f'  # unmounts overlay layers, removes storage

# The runtime's own log of a container (--log json lines) for failures.
runtime_log() {
	local id
	id=$(po inspect --format '{{.Id}}' "$1" 2>/dev/null) || return 0
	find "$P" -path "*$id*" \( -name 'oci-log' -o -name '*.json' -path '*log*' \) -exec sh -c 'echo "-- $1"; cat "$1"' _ {} \; 2>/dev/null
}

test_import() {
	make_rootfs_tar "$WORK/rootfs.tar"
	po import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$IMG"
	po images
	po image exists "$IMG"
}

test_run_output() {
	local out
	out=$(po run --rm "${CGP[@]}" "$IMG" echo hello from onggi)
	expect_eq "stdout" "$out" "hello from onggi"
	out=$(po run --rm "${CGP[@]}" "$IMG" sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
	expect_eq "stderr" "$out" "to-stderr"
	set +e
	po run --rm "${CGP[@]}" "$IMG" sh -c 'exit 3'
	local rc=$?
	set -e
	expect_eq "exit code" "$rc" 3
	out=$(echo piped | po run --rm -i "${CGP[@]}" "$IMG" cat)
	expect_eq "stdin" "$out" "piped"
	out=$(po run --rm "${CGP[@]}" -e FOO=bar -w /tmp --hostname onggi-host "$IMG" sh -c 'echo $FOO $(pwd) $(hostname) $(id -u)')
	expect_eq "env/cwd/hostname/uid" "$out" "bar /tmp onggi-host 0"
	out=$(po run --rm "${CGP[@]}" --user 65534:65534 "$IMG" id)
	expect_match "--user" "$out" "uid=65534.*gid=65534"
}

test_run_tty() {
	local out
	out=$(po run --rm -t "${CGP[@]}" "$IMG" sh -c 'tty; stty size' | tr -d '\r')
	echo "$out"
	expect_match "tty" "$out" "^/dev/pts/[0-9]+"
}

test_detached_lifecycle() {
	local c=lc out pid
	po run -d --name $c "${CGP[@]}" "$IMG" sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.2; done'
	retry 25 sh -c "podman --root '$P/root' --runroot '$P/runroot' logs $c | grep -q started" ||
		die "logs: no 'started'"
	expect_eq "status" "$(po inspect --format '{{.State.Status}}' $c)" running
	pid=$(po inspect --format '{{.State.Pid}}' $c)
	[ "$pid" -gt 0 ] && [ -d /proc/$pid ] || die "no pid $pid"
	# the container is in a cgroup below CG_PARENT
	expect_match "cgroup" "$(cat /proc/$pid/cgroup)" "$CG_PARENT"
	out=$(po exec $c echo exec-ok)
	expect_eq "exec" "$out" exec-ok
	out=$(po exec -e X=1 -w /tmp --user 65534 $c sh -c 'echo $X $(pwd) $(id -u)')
	expect_eq "exec env/cwd/user" "$out" "1 /tmp 65534"
	set +e
	po exec $c sh -c 'exit 7'
	local rc=$?
	set -e
	expect_eq "exec exit code" "$rc" 7
	out=$(po exec -t $c tty | tr -d '\r')
	expect_match "exec -t" "$out" "^/dev/pts/[0-9]+"
	out=$(po exec $c ps -o pid,args)
	echo "$out"
	expect_match "ps in container" "$out" "1 sh -c"
	out=$(po top $c)
	echo "$out"
	expect_match "top" "$out" "sh -c"
	po ps --filter name=$c | grep -q $c || die "ps does not list $c"
	# stop: SIGTERM reaches the trap
	po stop -t 10 $c
	expect_eq "status after stop" "$(po inspect --format '{{.State.Status}}' $c)" exited
	expect_eq "exit code after stop" "$(po inspect --format '{{.State.ExitCode}}' $c)" 0
	po logs $c | grep -q got-term || die "logs: no got-term after stop"
	# start again, then kill
	po start $c
	expect_eq "status after start" "$(po inspect --format '{{.State.Status}}' $c)" running
	po restart -t 2 $c
	expect_eq "status after restart" "$(po inspect --format '{{.State.Status}}' $c)" running
	po kill -s KILL $c
	out=$(po wait $c)
	expect_eq "exit code after kill -9" "$out" 137
	po rm $c
	! po container exists $c || die "$c still exists"
}

# exec of a process that exits at once: conmon (a subreaper) must get its
# exit status; 30 times, each must say 0 (a lost exit shows as 255)
exec_fast_case() {
	local rt=$1 c=fx-$2 i rc bad=0
	pm "$rt" run -d --name $c "${CGP[@]}" "$IMG" sleep 1000
	for i in $(seq 30); do
		set +e
		pm "$rt" exec $c true
		rc=$?
		set -e
		[ $rc = 0 ] || { echo "exec $i: rc $rc"; bad=$((bad + 1)); }
	done
	pm "$rt" rm -f -t 0 $c
	[ $bad = 0 ] || die "$bad of 30 quick execs lost their exit status"
}
test_exec_fast_exit() { exec_fast_case "$ONGGI" onggi; }

test_pause_resume() {
	local c=pr pid st
	po run -d --name $c "${CGP[@]}" "$IMG" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done'
	pid=$(po inspect --format '{{.State.Pid}}' $c)
	po pause $c
	expect_eq "status" "$(po inspect --format '{{.State.Status}}' $c)" paused
	st=$(cat "$(cg_of_pid "$pid" freezer)/freezer.state")
	expect_eq "freezer.state" "$st" FROZEN
	grep -q '^State:.*[DST]' /proc/$pid/status || die "process not stopped: $(grep State /proc/$pid/status)"
	local n1 n2
	n1=$(cat /proc/$pid/root/tmp/n); sleep 0.5; n2=$(cat /proc/$pid/root/tmp/n)
	expect_eq "counter while paused" "$n2" "$n1"
	po unpause $c
	expect_eq "status" "$(po inspect --format '{{.State.Status}}' $c)" running
	sleep 0.5
	n2=$(cat /proc/$pid/root/tmp/n)
	[ "$n2" -gt "$n1" ] || die "counter did not move after unpause"
	po rm -f -t 0 $c
}

# oom RUNTIME NAME: a 16m container allocating 64m is killed: 137. What
# podman says of OOMKilled goes to $WORK/oom-NAME for the runc comparison.
oom_case() {
	local rt=$1 c=oom-$2 rc
	set +e
	pm "$rt" run --name $c "${CGP[@]}" --memory 16m "$IMG" dd if=/dev/zero of=/dev/null bs=64M count=1
	rc=$?
	set -e
	pm "$rt" inspect --format '{{.State.OOMKilled}}' $c >"$WORK/oom-$2"
	echo "rc=$rc OOMKilled=$(cat "$WORK/oom-$2")"
	expect_eq "exit code" "$rc" 137
	pm "$rt" rm $c
}
test_oom() { oom_case "$ONGGI" onggi; }

test_memory_limit_set() {
	local c=mem pid
	po run -d --name $c "${CGP[@]}" --memory 32m "$IMG" sleep 100
	pid=$(po inspect --format '{{.State.Pid}}' $c)
	expect_eq "memory.limit_in_bytes" "$(cat "$(cg_of_pid "$pid" memory)/memory.limit_in_bytes" 2>/dev/null || cat "$(cg_of_pid "$pid" memory)/memory.max")" 33554432
	po rm -f -t 0 $c
}

test_pids_limit() {
	local c=pids out pid cg
	po run -d --name $c "${CGP[@]}" --pids-limit 10 "$IMG" sleep 100
	pid=$(po inspect --format '{{.State.Pid}}' $c)
	cg=$(cg_of_pid "$pid" pids)
	expect_eq "pids.max" "$(cat "$cg/pids.max")" 10
	# forks until the limit; the shell gives up at the first failed fork
	out=$(po exec $c sh -c 'for i in $(seq 20); do sleep 30 & done' 2>&1) || true
	echo "$out"
	expect_match "fork failure" "$out" "(fork|Resource temporarily unavailable)"
	local cur
	cur=$(cat "$cg/pids.current")
	echo "pids.current=$cur"
	[ "$cur" -ge 8 ] && [ "$cur" -le 10 ] || die "pids.current $cur with pids.max 10"
	po rm -f -t 0 $c
}

test_network_none() {
	local out
	out=$(po run --rm "${CGP[@]}" --network none "$IMG" ip -o link)
	echo "$out"
	expect_eq "interfaces" "$(echo "$out" | awk -F': ' '{print $2}' | tr '\n' ' ')" "lo "
	out=$(po run --rm "${CGP[@]}" --network none "$IMG" ip -o -4 addr)
	expect_match "lo up with 127.0.0.1" "$out" "lo +inet 127\.0\.0\.1"
}

net_default_case() {
	local rt=$1 out
	out=$(pm "$rt" run --rm "${CGP[@]}" "$IMG" sh -c 'ip -o -4 addr; ip route; ping -c1 -W2 $(ip route | awk "/default/ {print \$3}") >/dev/null && echo gw-reachable')
	echo "$out"
	expect_match "lo" "$out" "lo +inet 127\.0\.0\.1"
	expect_match "eth0" "$out" "eth0 +inet 10\.88\."
	expect_match "gateway" "$out" "gw-reachable"
	echo "$out" | sed -E 's/10\.88\.[0-9.]+/10.88.X/g; s/^[0-9]+: //' >"$WORK/net-$2.txt"
}
test_network_default() { net_default_case "$ONGGI" onggi; }

test_update() {
	local c=upd pid
	po update --help >/dev/null 2>&1 || skip "podman $(podman --version | awk '{print $3}') has no update"
	po run -d --name $c "${CGP[@]}" --memory 32m "$IMG" sleep 100
	pid=$(po inspect --format '{{.State.Pid}}' $c)
	po update --memory 48m $c
	expect_eq "memory.limit_in_bytes" "$(cat "$(cg_of_pid "$pid" memory)/memory.limit_in_bytes")" 50331648
	po rm -f -t 0 $c
}

test_events() {
	grep -q '"Status":"start"\|"status":"start"\|start' "$P/events.log" || die "no start event in $P/events.log"
}

# Same things with runc: results must match (lib.sh: compare_env).
test_runc_compare() {
	[ -x "$RUNC" ] || skip "no runc"
	# the same cases with runc first: they must pass
	exec_fast_case "$RUNC" runc
	oom_case "$RUNC" runc
	# podman 4.3 + conmon 2.1.6 on this v1 hybrid host say OOMKilled false
	# with runc too: reported, not asserted
	echo "note: OOMKilled of a 137 exit: onggi $(cat "$WORK/oom-onggi" 2>/dev/null), runc $(cat "$WORK/oom-runc")" >>"$WORK/notes"
	net_default_case "$RUNC" runc
	[ -f "$WORK/net-onggi.txt" ] && { diff "$WORK/net-runc.txt" "$WORK/net-onggi.txt" || die "network differs from runc"; }
	local a b
	a=$(po run --rm "${CGP[@]}" --network none "$IMG" sh -c "$ENV_PROBE")
	b=$(pm "$RUNC" run --rm "${CGP[@]}" --network none "$IMG" sh -c "$ENV_PROBE")
	compare_env "$b" "$a"
}

# CLIENTS_DEBUG=FILE: set up as above, then source FILE instead of the tests.
if [ -n "${CLIENTS_DEBUG:-}" ]; then source "$CLIENTS_DEBUG"; exit; fi

t import test_import
t run-output test_run_output
t run-tty test_run_tty
t detached-lifecycle test_detached_lifecycle
t exec-fast-exit test_exec_fast_exit
t pause-resume test_pause_resume
t oom-kill test_oom
t memory-limit test_memory_limit_set
t pids-limit test_pids_limit
t network-none test_network_none
t network-default test_network_default
t update test_update
t events test_events
t runc-compare test_runc_compare
lib_summary
